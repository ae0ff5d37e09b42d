-- Caption statistics in the shape CodecVDC-100K reports them, for whatever is materialized.
-- `codecvdc sql -f sql/caption_stats.sql`

-- 1. Dataset overview: videos, hours, segments, anchors, residuals (each table scanned once).
WITH seg AS (SELECT video_id, count(*) AS n FROM segments GROUP BY video_id),
     res AS (
         SELECT video_id, count(*) AS n, sum(n_words) AS words, count(*) FILTER (change_type = 'none') AS n_none
         FROM residuals GROUP BY video_id
     ),
     vid AS (SELECT count(*) AS videos, sum(duration_s) / 3600 AS hours FROM videos),
     anc AS (SELECT avg(n_words) AS mean_words, median(n_words) AS median_words FROM anchors),
     r AS (SELECT avg(n) AS per_video, sum(words) / sum(n) AS words, sum(n_none) / sum(n) AS none_share FROM res)
SELECT
    vid.videos,
    vid.hours,
    (SELECT median(n) FROM seg) AS median_segments_per_video,
    anc.mean_words AS mean_words_per_anchor,
    anc.median_words AS median_words_per_anchor,
    r.per_video AS residuals_per_video,
    r.words AS words_per_residual,
    r.none_share
FROM vid, anc, r;

-- 2. Words and tokens per caption level: the calls of the latest run of each (video, asset), cache hits
--    included (they carry the tokens the cached answer cost), so re-runs are not counted twice.
WITH per_run AS (
    SELECT video_id, asset, run_id, max(recorded_at) AS last_at,
           sum(prompt_tokens) AS prompt_tokens, sum(completion_tokens) AS completion_tokens
    FROM model_calls GROUP BY video_id, asset, run_id
),
tokens AS (
    SELECT asset, sum(p) AS prompt_tokens, sum(c) AS completion_tokens
    FROM (
        SELECT video_id, asset, arg_max(prompt_tokens, last_at) AS p, arg_max(completion_tokens, last_at) AS c
        FROM per_run GROUP BY video_id, asset
    )
    GROUP BY asset
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
