"""LlamaIndex integration for Mistral Small 3.1 24B on Cloudflare Workers AI.

>>> from llama_index_cf_mistral import CloudflareMistral
>>> CloudflareMistral.class_name()
'CloudflareMistral_LLM'

Also importable as ``llama_index.llms.cf_mistral`` (the LlamaHub convention).
"""

from cf_mistral import __version__
from cf_mistral._framework import framework_imports as _framework_imports

with _framework_imports(
    "llama_index.core", adapter="llama_index_cf_mistral", distribution="llama-index-llms-cf-mistral"
):
    from llama_index_cf_mistral._llm import CloudflareMistral

__all__ = ["CloudflareMistral", "__version__"]

CloudflareMistral.__module__ = "llama_index_cf_mistral"
