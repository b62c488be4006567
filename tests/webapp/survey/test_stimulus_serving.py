"""Stimuli the generator wrote layout-free are served as they are (a plain read, as cheap as
a static file, benchmarks/load_test.py measures it); a file changed after it was first
served (the same path, now with a text chunk naming the method) is not served from the
earlier check: it is refused as changed since import, and served again once restored."""
from __future__ import annotations

import io
import shutil

from PIL import Image
from PIL.PngImagePlugin import PngInfo

from tests.webapp.helpers import migrate_and_import
from webapp.survey.stimulus_bytes import layout_free_png


def test_layout_free_files_are_served_as_is_and_a_changed_file_is_refused(blind_study, tmp_path):
    from webapp.app import create_app, db_engine

    root, manifest = blind_study
    study = tmp_path / "study"
    shutil.copytree(root, study)  # the session's study stays untouched
    db_url = f"sqlite:///{tmp_path / 'survey.sqlite'}"
    migrate_and_import(db_url, study)
    app = create_app({"TESTING": True, "SECRET_KEY": "t", "DATABASE_URL": db_url, "RATELIMIT_ENABLED": False})
    client = app.test_client()
    try:
        side = manifest["pairs"][0]["sides"]["A"]
        url, path = f"/stimuli/{side['sha256'][:32]}.png", study / side["file"]
        on_disk = path.read_bytes()
        assert layout_free_png(on_disk) == on_disk  # what the generator writes
        for _ in range(2):  # first fetch checks the file, the second serves the checked file
            assert client.get(url).get_data() == on_disk

        # the same path now holds a compressed PNG whose text names the method
        pixels = Image.open(io.BytesIO(on_disk))
        info = PngInfo()
        info.add_text("Comment", "method=gradcam")
        pixels.save(path, format="PNG", pnginfo=info, compress_level=9)
        changed = client.get(url)
        assert changed.status_code == 404 and b"method=" not in changed.get_data()
        path.write_bytes(on_disk)  # restored: the bytes checked at import
        assert client.get(url).get_data() == on_disk
    finally:
        db_engine(app).dispose()
