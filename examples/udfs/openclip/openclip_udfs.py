"""OpenCLIP image embeddings: a stateful UDF that loads the model once per worker."""

import io

from e2e_udf import udf


@udf(data_type="vector[float32, 512]", num_gpus=1, batch_size=32, batched=True)
class ClipEmbedding:
    def setup(self):
        import open_clip
        import torch

        self.torch = torch
        self.device = "cuda" if torch.cuda.is_available() else "cpu"
        self.model, _, self.preprocess = open_clip.create_model_and_transforms("ViT-B-32", pretrained="laion2b_s34b_b79k")
        self.model = self.model.to(self.device).eval()

    def __call__(self, images):
        from PIL import Image

        batch = self.torch.stack([self.preprocess(Image.open(io.BytesIO(b)).convert("RGB")) for b in images]).to(self.device)
        with self.torch.no_grad():
            features = self.model.encode_image(batch)
            features = features / features.norm(dim=-1, keepdim=True)
        return features.cpu().tolist()
