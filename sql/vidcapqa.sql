-- VidCapQA comparison in the shape of CodecCap Table 2: one row per dimension, grouped
-- dynamics-centric / static-persistence, accuracy (%) per caption source, and the delta of
-- CodecCap (all levels) over direct captioning in percentage points. `codecvdc sql -f sql/vidcapqa.sql`
WITH s AS (
    SELECT
        CASE WHEN "group" = 'overall' THEN 'overall'
             WHEN dimension IN ('action recognition', 'camera movement', 'direction', 'object tracking',
                                'rotation', 'speed', 'temporal grounding', 'temporal sequence', 'trajectory')
                 THEN 'dynamics-centric'
             ELSE 'static / persistence' END AS dim_group,
        dimension, source, accuracy
    FROM vidcapqa_scores
    WHERE "group" IN ('dimension', 'overall')
)
SELECT
    dim_group,
    dimension,
    round(100 * max(accuracy) FILTER (WHERE source = 'codeccap:stream'), 1) AS codeccap_stream,
    round(100 * max(accuracy) FILTER (WHERE source = 'codeccap:scene'), 1) AS codeccap_scene,
    round(100 * max(accuracy) FILTER (WHERE source = 'codeccap:video'), 1) AS codeccap_video,
    round(100 * max(accuracy) FILTER (WHERE source = 'codeccap:all'), 1) AS codeccap_all,
    round(100 * max(accuracy) FILTER (WHERE source = 'direct:caption'), 1) AS direct,
    round(100 * max(accuracy) FILTER (WHERE source = 'per_second:caption'), 1) AS per_second,
    round(100 * max(accuracy) FILTER (WHERE source = 'longcaption:video'), 1) AS longcaption,
    round(100 * (max(accuracy) FILTER (WHERE source = 'codeccap:all')
                 - max(accuracy) FILTER (WHERE source = 'direct:caption')), 1) AS delta_codeccap_direct
FROM s
GROUP BY dim_group, dimension
ORDER BY list_position(['dynamics-centric', 'static / persistence', 'overall'], dim_group), dimension;

-- Overall per source: accuracy with its bootstrap 95% CI, no-evidence rate, caption tokens per video minute.
SELECT source, n, round(100 * accuracy, 1) AS accuracy, round(100 * ci_low, 1) AS ci_low,
       round(100 * ci_high, 1) AS ci_high, round(100 * no_evidence_rate, 1) AS no_evidence,
       round(tokens_per_minute) AS tokens_per_minute
FROM vidcapqa_scores
WHERE "group" = 'overall'
ORDER BY source;

-- Paired comparisons of two sources on the same questions (overall, per difficulty, per dimension):
-- difference in points with its paired bootstrap 95% CI, discordant counts and McNemar's exact p-value.
SELECT source_a, source_b, "group", dimension, n, round(100 * difference, 1) AS diff_points,
       round(100 * ci_low, 1) AS ci_low, round(100 * ci_high, 1) AS ci_high, a_only, b_only,
       round(mcnemar_p, 4) AS mcnemar_p
FROM vidcapqa_pairs
ORDER BY list_position(['overall', 'difficulty', 'dimension'], "group"), source_a, source_b, dimension;
