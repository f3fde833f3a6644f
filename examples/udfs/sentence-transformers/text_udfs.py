"""Sentence embeddings of captions: a stateful, batched UDF."""

from e2e_udf import udf


@udf(data_type="vector[float32, 384]", num_gpus=1, batch_size=64, batched=True)
class CaptionEmbedding:
    def setup(self):
        from sentence_transformers import SentenceTransformer

        self.model = SentenceTransformer("sentence-transformers/all-MiniLM-L6-v2")

    def __call__(self, captions):
        return self.model.encode(list(captions), normalize_embeddings=True).tolist()
