"""The resident chatbot's knowledge: policy documents and passages (gold), a Korean BM25 index, eligibility-
aware search, its read API and its evaluation. `gglake knowledge build|eval|serve`."""
