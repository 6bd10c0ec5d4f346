"""The platform's ids of gallery images already uploaded, so an image is sent as bytes only once.

Telegram answers an upload with a file id that can be sent again instead of the bytes; the ids live
in SQLite (`uploaded_files`), so a restarted bot does not upload the whole gallery again. A key names
the image by its content (id and a digest of its bytes): a rebuilt gallery never reuses an old id.
"""

from __future__ import annotations

import hashlib

from storage.gallery import GalleryImage
from storage.store import Store


class UploadCache:
    def __init__(self, store: Store, platform: str):
        self.store, self.platform = store, platform
        self._ids: dict[str, str] | None = None
        self._keys: dict[str, str] = {}

    def key(self, image: GalleryImage) -> str:
        if image.id not in self._keys:
            digest = hashlib.sha256(image.path.read_bytes()).hexdigest()[:20]
            self._keys[image.id] = f"gallery:{image.id}:{digest}"
        return self._keys[image.id]

    async def get(self, image: GalleryImage) -> str | None:
        if self._ids is None:
            self._ids = await self.store.uploaded_files(self.platform)
        return self._ids.get(self.key(image))

    async def remember(self, uploaded: list[tuple[GalleryImage, str]]) -> None:
        """Keep the ids the platform gave (those already known are skipped)."""
        fresh = {self.key(image): file_id for image, file_id in uploaded if await self.get(image) != file_id}
        if fresh:
            self._ids.update(fresh)
            await self.store.remember_uploads(self.platform, fresh)

    async def forget(self) -> None:
        """The platform refused a remembered id: send the bytes again, all of them."""
        self._ids = {}
        await self.store.forget_uploads(self.platform)
