-- Per video: segmentation, the four caption levels, accepted evidence, and what failed.
SELECT
    v.video_id,
    round(v.duration_s, 1) AS dur_s,
    v.seg_mode,
    (SELECT count(*) FROM segments s WHERE s.video_id = v.video_id) AS segments,
    (SELECT count(*) FROM anchors a WHERE a.video_id = v.video_id) AS anchors,
    (SELECT count(*) FROM residuals r WHERE r.video_id = v.video_id) AS residuals,
    (SELECT round(avg(CASE WHEN r.change_type = 'none' THEN 1.0 ELSE 0.0 END), 2)
       FROM residuals r WHERE r.video_id = v.video_id) AS none_share,
    (SELECT count(*) FROM evidence e WHERE e.video_id = v.video_id AND e.accepted AND e.rule <> 'attribute_lock')
        AS accepted_evidence,
    (SELECT count(*) FROM evidence e WHERE e.video_id = v.video_id AND NOT e.accepted) AS rejected,
    (SELECT sum(n_words) FROM video_narratives n WHERE n.video_id = v.video_id) AS narrative_words,
    (SELECT string_agg(f.asset || ': ' || f.message, '; ') FROM failures f WHERE f.video_id = v.video_id) AS failure
FROM videos v
ORDER BY v.video_id;
