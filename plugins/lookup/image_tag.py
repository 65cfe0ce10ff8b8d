"""The tag this checkout gives one of our image families (images/<family>).

    zuul_service_image: "{{ site_image_prefix }}/zuul-scheduler:{{ lookup('image_tag', 'zuul') }}"

The tag is the one `images build` gives the family from the same files
(sctools.images.family_tag): <version>-<12 hex of the inputs' digest>. It
is computed from the checkout the playbook runs from, so bridge's cron
and Zuul's deploy jobs, run from the same commit, deploy the same tag,
and a change outside the family's inputs leaves it as it was.
ansible.cfg's lookup_plugins makes it available to every play run with
this repository's configuration.
"""

from __future__ import annotations

import sys
from pathlib import Path

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase

# plugins/lookup/ is two levels below the checkout; sctools is under tools/.
_CHECKOUT = Path(__file__).resolve().parents[2]
if str(_CHECKOUT / "tools") not in sys.path:
    sys.path.insert(0, str(_CHECKOUT / "tools"))

from sctools import images  # noqa: E402  (needs the path above)
from sctools.cli import ToolError  # noqa: E402

DOCUMENTATION = """
name: image_tag
short_description: The tag this checkout gives an image family
description:
  - The tag C(images build) gives images/<family> from this checkout's files.
options:
  _terms:
    description: Family names (the directories under images/).
    required: true
"""


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        tags = []
        for term in terms:
            family = images.FAMILY_NAMED.get(term) if isinstance(term, str) else None
            if family is None:
                raise AnsibleLookupError(
                    f"image_tag: {term!r} is no image family of {_CHECKOUT / 'images'} "
                    f"(one of: {', '.join(sorted(images.FAMILY_NAMED))})"
                )
            try:
                tags.append(
                    images.family_tag(
                        family,
                        _CHECKOUT / "images",
                        _CHECKOUT / images.ZUUL_REQUIREMENTS,
                        _CHECKOUT / images.BASE_RECIPE,
                    )
                )
            except ToolError as exc:
                raise AnsibleLookupError(f"image_tag: {exc}") from exc
        return tags
