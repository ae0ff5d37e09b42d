-- Caption statistics in the shape CodecVDC-100K reports them, for whatever is materialized.
-- `codecvdc sql -f sql/caption_stats.sql`

-- 1. Dataset overview: videos, hours, segments, anchors, residuals.
WITH seg AS (SELECT video_id, count(*) AS n FROM segments GROUP BY video_id),
     res AS (SELECT video_id, count(*) AS n FROM residuals GROUP BY video_id)
SELECT
    (SELECT count(*) FROM videos) AS videos,
    (SELECT sum(duration_s) / 3600 FROM videos) AS hours,
    (SELECT median(n) FROM seg) AS median_segments_per_video,
    (SELECT avg(n_words) FROM anchors) AS mean_words_per_anchor,
    (SELECT median(n_words) FROM anchors) AS median_words_per_anchor,
    (SELECT avg(n) FROM res) AS residuals_per_video,
    (SELECT avg(n_words) FROM residuals) AS words_per_residual,
    (SELECT avg(CASE WHEN change_type = 'none' THEN 1.0 ELSE 0.0 END) FROM residuals) AS none_share;

-- 2. Words and tokens per caption level: the calls of the latest run of each (video, asset), cache hits
--    included (they carry the tokens the cached answer cost), so re-runs are not counted twice.
WITH latest AS (
    SELECT *, last_value(run_id) OVER (PARTITION BY video_id, asset ORDER BY recorded_at
                                       ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING) AS last_run
    FROM model_calls
),
tokens AS (
    SELECT asset, sum(prompt_tokens) AS prompt_tokens, sum(completion_tokens) AS completion_tokens
    FROM latest WHERE run_id = last_run GROUP BY asset
)
SELECT level, rows, words, words_per_row, t.prompt_tokens, t.completion_tokens
FROM (
    SELECT 'anchor' AS level, 'anchors' AS asset, count(*) AS rows, sum(n_words) AS words, avg(n_words) AS words_per_row FROM anchors
    UNION ALL SELECT 'residual', 'residuals', count(*), sum(n_words), avg(n_words) FROM residuals
    UNION ALL SELECT 'scene', 'scene_narratives', count(*), sum(n_words), avg(n_words) FROM scene_narratives
    UNION ALL SELECT 'video', 'video_narratives', count(*), sum(n_words), avg(n_words) FROM video_narratives
) AS l
LEFT JOIN tokens AS t USING (asset)
ORDER BY list_position(['anchor', 'residual', 'scene', 'video'], level);

-- 3. Accepted vs rejected evidence by rule.
SELECT rule, accepted, count(*) AS n, avg(support) AS mean_support
FROM evidence
GROUP BY rule, accepted
ORDER BY rule, accepted DESC;

-- 4. Residual change types.
SELECT change_type, count(*) AS n, round(100.0 * count(*) / sum(count(*)) OVER (), 1) AS percent
FROM residuals
GROUP BY change_type
ORDER BY n DESC;
