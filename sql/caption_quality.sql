-- Caption quality: flagged captions per asset and flag, with the videos they touch and the re-asks they took.
-- codecvdc sql -f sql/caption_quality.sql
SELECT asset, flag, count(*) AS captions, count(DISTINCT video_id) AS videos,
       round(avg(value), 3) AS mean_value, max(attempt) AS max_attempt
FROM caption_quality
GROUP BY asset, flag
ORDER BY asset, captions DESC;
