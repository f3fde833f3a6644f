"""BLIP image captions: a stateful UDF that loads the model once per worker."""

import io

from e2e_udf import udf


@udf(data_type="string", num_gpus=1, batch_size=16, batched=True)
class BlipCaption:
    def setup(self):
        import torch
        from transformers import BlipForConditionalGeneration, BlipProcessor

        self.torch = torch
        self.device = "cuda" if torch.cuda.is_available() else "cpu"
        name = "Salesforce/blip-image-captioning-base"
        self.processor = BlipProcessor.from_pretrained(name)
        self.model = BlipForConditionalGeneration.from_pretrained(name).to(self.device).eval()

    def __call__(self, images):
        from PIL import Image

        pictures = [Image.open(io.BytesIO(b)).convert("RGB") for b in images]
        inputs = self.processor(images=pictures, return_tensors="pt").to(self.device)
        with self.torch.no_grad():
            output = self.model.generate(**inputs, max_new_tokens=30)
        return [self.processor.decode(o, skip_special_tokens=True) for o in output]
