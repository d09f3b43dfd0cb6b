"""The serialization namespace ``langchain_cf_mistral.chat_models`` (LangChain's convention).

``dumpd(model)`` records ``["langchain_cf_mistral", "chat_models", "ChatCloudflareMistral"]``
and ``load`` imports the class from here.
"""

from langchain_cf_mistral._chat_model import ChatCloudflareMistral

__all__ = ["ChatCloudflareMistral"]
