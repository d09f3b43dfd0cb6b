"""The LlamaHub import path: ``from llama_index.llms.cf_mistral import CloudflareMistral``.

``llama_index`` and ``llama_index.llms`` are namespace packages shared with llama-index-core:
neither may have an ``__init__.py`` here, or every other llama-index package breaks.
"""

from llama_index_cf_mistral import CloudflareMistral, __version__

__all__ = ["CloudflareMistral", "__version__"]
