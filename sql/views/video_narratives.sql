-- Whole-video narratives: the scene narratives in order.
SELECT * FROM read_parquet({glob:video_narratives}, union_by_name = true)
