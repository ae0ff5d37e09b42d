-- vidcapqa_scores (see README, VidCapQA).
SELECT * FROM read_parquet({glob:vidcapqa_scores}, union_by_name = true)
