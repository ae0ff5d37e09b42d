-- Per video: duration, segmentation mode, segments and sampled frames, and what failed.
SELECT
    v.video_id,
    round(v.duration_s, 2) AS duration_s,
    v.width || 'x' || v.height AS size,
    v.seg_mode,
    round(v.gop_cv, 3) AS gop_cv,
    (SELECT count(*) FROM segments s WHERE s.video_id = v.video_id) AS segments,
    (SELECT count(*) FROM frames f WHERE f.video_id = v.video_id AND f.is_sample) AS sampled_frames,
    (SELECT string_agg(f.asset || ': ' || f.message, '; ') FROM failures f WHERE f.video_id = v.video_id) AS failure
FROM videos v
ORDER BY v.video_id;
