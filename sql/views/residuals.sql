-- Residual captions: one per adjacent pair of sampled frames within a segment.
SELECT * FROM read_parquet({glob:residuals}, union_by_name = true)
