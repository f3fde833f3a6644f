"""Image embeddings with a real CNN: torchvision's ResNet-18 without its classifier, 512 features per image.

No weights can be downloaded where this runs, so the network starts from seeded random weights: the vectors are not
semantically useful, but they are what a real forward pass computes, deterministic for a seed (bit for bit on CPU),
and as costly as the pretrained model's. Images are decoded with Pillow, resized to 128 x 128 (the suite's images are
16 to 63 pixels a side) and normalized with ImageNet's mean and deviation.

Environment, read in each worker:
  E2E_TORCH_DEVICE   auto (default: cuda when torch sees a GPU, else cpu), cpu or cuda
  E2E_TORCH_THREADS  torch threads per worker (default 1: one worker per core is how a backfill scales)
  E2E_EMBEDDING_SEED the weights' seed (default 0)
torch is imported in setup(), so declaring the UDF (Add-E2EColumn) needs only the standard library.
"""

import io
import os

from e2e_udf import udf

IMAGE_SIZE = 128
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


@udf(data_type="vector[float32, 512]", batched=True, batch_size=16, num_gpus=0.0)
class ResnetEmbedding:
    def setup(self):
        # Deterministic CUDA matmuls need this set before CUDA starts.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        import torch
        import torchvision

        torch.set_num_threads(int(os.environ.get("E2E_TORCH_THREADS", "1")))
        torch.use_deterministic_algorithms(True)
        wanted = os.environ.get("E2E_TORCH_DEVICE", "auto")
        if wanted == "auto":
            wanted = "cuda" if torch.cuda.is_available() else "cpu"
        self.torch = torch
        self.device = torch.device(wanted if wanted != "cuda" else "cuda:0")
        torch.manual_seed(int(os.environ.get("E2E_EMBEDDING_SEED", "0")))
        model = torchvision.models.resnet18(weights=None)
        model.fc = torch.nn.Identity()
        self.model = model.eval().to(self.device)
        self.mean = torch.tensor(MEAN).view(1, 3, 1, 1).to(self.device)
        self.std = torch.tensor(STD).view(1, 3, 1, 1).to(self.device)

    def pixels(self, image):
        from PIL import Image

        picture = Image.open(io.BytesIO(image)).convert("RGB").resize((IMAGE_SIZE, IMAGE_SIZE), Image.BILINEAR)
        return self.torch.frombuffer(bytearray(picture.tobytes()), dtype=self.torch.uint8).view(IMAGE_SIZE, IMAGE_SIZE, 3)

    def __call__(self, image: list) -> list:
        torch = self.torch
        batch = torch.stack([self.pixels(b) for b in image]).to(self.device).permute(0, 3, 1, 2).float().div(255.0)
        with torch.inference_mode():
            features = self.model((batch - self.mean) / self.std)
        return features.float().cpu().tolist()
