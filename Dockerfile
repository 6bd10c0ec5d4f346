# ViPer Bot: one image for the bot and the GPU worker (docker-compose.yml runs both).
# The PyTorch runtime image is the CUDA runtime plus Python and a CUDA build of torch.
FROM pytorch/pytorch:2.7.1-cuda12.6-cudnn9-runtime

ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    HF_HOME=/models \
    VIPER_STORAGE__DATA_DIR=/data

RUN useradd --create-home --uid 1000 viper \
    && mkdir -p /app /data /models \
    && chown viper:viper /data /models

WORKDIR /app
COPY pyproject.toml README.md config.toml ./
COPY viper ./viper
COPY bot ./bot
COPY engine ./engine
COPY storage ./storage
# torch comes from the base image; the extra brings the VPE extractor (peft, bitsandbytes).
RUN pip install ".[vpe]"

USER viper
# Model weights (Hugging Face cache) and the SQLite file + gallery live on volumes.
VOLUME ["/models", "/data"]
ENTRYPOINT ["viper", "--config", "/app/config.toml"]
CMD ["up"]
