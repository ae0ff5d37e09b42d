-- vidcapqa_answers (see README, VidCapQA).
SELECT * FROM read_parquet({glob:vidcapqa_answers}, union_by_name = true)
