-- vidcapqa_bank (see README, VidCapQA).
SELECT * FROM read_parquet({glob:vidcapqa_bank}, union_by_name = true)
