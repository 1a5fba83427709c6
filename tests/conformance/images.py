"""The conformance tier's function images: one per set of layers, built before pytest starts (run.sh runs
`python -m tests.conformance.images CONFIG`), because copying ~500 MB of layers per set can take minutes on a
loaded machine, longer than a test's timeout; it adds `images` (logical id -> image) to CONFIG.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

IMAGE_PREFIX = "eneo-lambda-fn-"


def layer_images(template: dict[str, Any], build_dir: Path, runtime_image: str) -> dict[str, str]:
    """One image per set of layers, the layers extracted into /opt in the function's order, as Lambda does
    (conftest.py then drops the template's `Layers`: every function gets its image with --invoke-image).

    SAM CLI would add the layers itself, but it builds that image again at every start for layers that are
    local folders (~1 min each set here, and for every `sam local invoke`). Docker's build cache makes this
    build a few seconds when the layers did not change.

    Each image's repository names its layer set and its image id (`eneo-lambda-fn-eneo-documents-<id>`):
    SAM CLI wraps an --invoke-image in `<repository>:rapid-x86_64` and builds that only when the name is
    missing (samcli/local/docker/lambda_image.py), so a shared repository would serve every function, in
    this run and the next, the layers of whichever image was wrapped first. Images of ours from other
    builds (and their rapid wrappers) are removed; unchanged layers keep their id and their wrapper.
    """
    resources = template["Resources"]
    shared = template.get("Globals", {}).get("Function", {}).pop("Layers", [])
    images: dict[str, str] = {}
    built: dict[tuple[str, ...], str] = {}
    for name, resource in resources.items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        layers = tuple(ref["Ref"] for ref in [*shared, *resource["Properties"].pop("Layers", [])])
        if layers not in built:
            steps = "".join(f"COPY {resources[layer]['Properties']['ContentUri']}/ /opt/\n" for layer in layers)
            dockerfile = f"FROM {runtime_image}\n{steps}"
            # Only these layers' folders go to Docker as the build's context (not every function's copy).
            folders = "".join(f"!{resources[layer]['Properties']['ContentUri']}\n" for layer in layers)
            (build_dir / ".dockerignore").write_text(f"*\n{folders}")
            done = subprocess.run(["docker", "build", "--quiet", "-f", "-", str(build_dir)],  # noqa: S603, S607
                                  input=dockerfile, capture_output=True, text=True, check=False,
                                  env=os.environ | {"DOCKER_BUILDKIT": "0"})
            assert done.returncode == 0, f"docker build {layers}: {done.stderr[-3000:]}"
            image_id = done.stdout.strip().rsplit(":", 1)[-1][:12]
            names = "-".join(layer.removesuffix("Layer").lower() for layer in layers)
            tag = f"{IMAGE_PREFIX}{names}-{image_id}:layers"
            subprocess.run(["docker", "tag", image_id, tag], check=True, capture_output=True)  # noqa: S603, S607
            built[layers] = tag
        images[name] = built[layers]
    remove_other_images({tag.split(":")[0] for tag in built.values()})
    return images


def remove_other_images(current: set[str]) -> None:
    """Our layer images and SAM CLI's rapid wrappers of them from other builds: stale, and ~500 MB each."""
    listed = subprocess.run(["docker", "image", "ls", "--format", "{{.Repository}}:{{.Tag}}"],  # noqa: S607
                            capture_output=True, text=True, check=True).stdout.split()
    stale = [name for name in listed if name.startswith((IMAGE_PREFIX, "eneo-lambda-function:"))
             and name.split(":")[0] not in current]
    if stale:
        subprocess.run(["docker", "rmi", "--force", *stale], capture_output=True, check=False)  # noqa: S603, S607


def main(config_file: str) -> None:
    config = json.loads(Path(config_file).read_text())
    built = Path(config["template"])
    config["images"] = layer_images(yaml.safe_load(built.read_text()), built.parent, config["image"])
    Path(config_file).write_text(json.dumps(config))
    for tag in sorted(set(config["images"].values())):
        print(f"function image {tag}")


if __name__ == "__main__":
    main(sys.argv[1])
