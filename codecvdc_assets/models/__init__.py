"""One interface for every model call (DESIGN.md section 7): OpenAI-style chat messages plus a JSON
schema for the answer, served by the embedded offline backend or any OpenAI-compatible endpoint; the call
cache and call records. Imports storage, schemas, video, settings; no Dagster."""
