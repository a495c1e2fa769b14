"""The hybrid pipeline as a LangChain retriever, so it plugs into LangChain chains.

retriever = HybridRetriever(qa=QA.load(config), k=5)
docs = retriever.invoke("萌蒂(中国)制药有限公司是由谁共同投资的？")   # list[langchain Document]
"""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document as LangChainDocument
from langchain_core.retrievers import BaseRetriever


class HybridRetriever(BaseRetriever):
    qa: Any  # answering.pipeline.QA (loaded once; not a pydantic type)
    k: int = 5

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[LangChainDocument]:
        passages = self.qa.retrieve(query, k=self.k)
        return [
            LangChainDocument(
                page_content=p.chunk.text,
                id=p.chunk.id,
                metadata={
                    "doc": p.chunk.doc,
                    "title": p.chunk.title,
                    "section": p.chunk.section,
                    "start": p.chunk.start,
                    "end": p.chunk.end,
                    "score": p.score,
                },
            )
            for p in passages
        ]
