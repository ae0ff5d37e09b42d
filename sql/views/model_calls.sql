-- Every model call: one row per attempt against a backend or per cache hit (cache_hit = true).
-- status: ok | truncated (cut at max_tokens) | invalid (failed the JSON schema) | error (transport).
SELECT * FROM read_parquet({glob:model_calls}, union_by_name = true)
