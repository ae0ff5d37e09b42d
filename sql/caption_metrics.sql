-- Caption metrics (README "Caption metrics"): `codecvdc sql -f sql/caption_metrics.sql`.
-- 1. The ActivityNet protocol, averaged over the tIoU thresholds (x 100, as the official script prints),
--    one row per caption source.
SELECT
    source,
    max(n) AS videos,
    round(100 * max(value) FILTER (WHERE metric = 'Bleu_4'), 2) AS bleu_4,
    round(100 * max(value) FILTER (WHERE metric = 'METEOR'), 2) AS meteor,
    round(100 * max(value) FILTER (WHERE metric = 'ROUGE_L'), 2) AS rouge_l,
    round(100 * max(value) FILTER (WHERE metric = 'CIDEr'), 2) AS cider,
    round(100 * max(value) FILTER (WHERE metric = 'Recall'), 2) AS recall,
    round(100 * max(value) FILTER (WHERE metric = 'Precision'), 2) AS "precision"
FROM caption_metrics
WHERE protocol = 'activitynet' AND threshold IS NULL
GROUP BY source
ORDER BY source;

-- 2. The same per tIoU threshold, METEOR and recall with their bootstrap 95% CIs (over videos).
SELECT
    source,
    threshold AS tiou,
    round(100 * max(value) FILTER (WHERE metric = 'METEOR'), 2) AS meteor,
    round(100 * max(ci_low) FILTER (WHERE metric = 'METEOR'), 2) AS meteor_low,
    round(100 * max(ci_high) FILTER (WHERE metric = 'METEOR'), 2) AS meteor_high,
    round(100 * max(value) FILTER (WHERE metric = 'Recall'), 2) AS recall,
    round(100 * max(ci_low) FILTER (WHERE metric = 'Recall'), 2) AS recall_low,
    round(100 * max(ci_high) FILTER (WHERE metric = 'Recall'), 2) AS recall_high
FROM caption_metrics
WHERE protocol = 'activitynet' AND threshold IS NOT NULL
GROUP BY source, threshold
ORDER BY source, threshold;

-- 3. SoccerNet-Caption's single-timestamp protocol, metrics @W and spotting P / R / F1.
SELECT
    source,
    threshold AS window_s,
    round(100 * max(value) FILTER (WHERE metric = 'Bleu_4'), 2) AS b4_at_w,
    round(100 * max(value) FILTER (WHERE metric = 'METEOR'), 2) AS m_at_w,
    round(100 * max(value) FILTER (WHERE metric = 'ROUGE_L'), 2) AS rl_at_w,
    round(100 * max(value) FILTER (WHERE metric = 'CIDEr'), 2) AS c_at_w,
    round(100 * max(value) FILTER (WHERE metric = 'Recall'), 2) AS recall,
    round(100 * max(value) FILTER (WHERE metric = 'Precision'), 2) AS "precision",
    round(100 * max(value) FILTER (WHERE metric = 'F1'), 2) AS f1
FROM caption_metrics
WHERE protocol = 'soccernet'
GROUP BY source, threshold
ORDER BY source;

-- 4. LongCaption-Bench: S_l, S_q (0-100) and S_r (1-5) per source and duration bucket, with 95% CIs.
SELECT
    source,
    subset,
    max(n) FILTER (WHERE metric = 'S_l') AS videos,
    round(max(value) FILTER (WHERE metric = 'S_l'), 1) AS s_l,
    round(max(ci_low) FILTER (WHERE metric = 'S_l'), 1) AS s_l_low,
    round(max(ci_high) FILTER (WHERE metric = 'S_l'), 1) AS s_l_high,
    round(max(value) FILTER (WHERE metric = 'S_q'), 1) AS s_q,
    round(max(value) FILTER (WHERE metric = 'S_r'), 2) AS s_r,
    round(max(ci_low) FILTER (WHERE metric = 'S_r'), 2) AS s_r_low,
    round(max(ci_high) FILTER (WHERE metric = 'S_r'), 2) AS s_r_high
FROM caption_metrics
WHERE protocol = 'longcaption'
GROUP BY source, subset
ORDER BY source, list_position(['overall', '[0s, 300s)', '[300s, 600s)', '[600s, 900s)', '[900s, 1200s)',
                                '[1200s, 1800s]', '(1800s, inf)'], subset);
