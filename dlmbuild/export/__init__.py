"""Export: GGUF files, Ollama Modelfiles and serving bundles built from trained adapters."""
