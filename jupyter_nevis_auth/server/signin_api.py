"""nevis/api/token/link, nevis/api/token/device and nevis/api/token/wait for this server's kernels.

The work is web/signin_api.py's; here each is behind the kernel secret, which KernelAPIHandler
checks in `prepare`, so Jupyter's own login is not asked for.
"""

from __future__ import annotations

from jupyter_server.auth.decorator import allow_unauthenticated

from ..web.signin_api import DeviceAPIMixin, LinkAPIMixin, WaitAPIMixin
from .kernel_api import KernelAPIHandler


class KernelLinkHandler(LinkAPIMixin, KernelAPIHandler):
    """nevis/api/token/link: links for the server's owner, asked for by its kernels."""

    post = allow_unauthenticated(LinkAPIMixin.post)
    delete = allow_unauthenticated(LinkAPIMixin.delete)


class KernelWaitHandler(WaitAPIMixin, KernelAPIHandler):
    """nevis/api/token/wait: a waiting cell's one request until its sign-in lands."""

    get = allow_unauthenticated(WaitAPIMixin.get)


class KernelDeviceHandler(DeviceAPIMixin, KernelAPIHandler):
    """nevis/api/token/device: device sign-ins for the server's owner, for its kernels."""

    post = allow_unauthenticated(DeviceAPIMixin.post)
    get = allow_unauthenticated(DeviceAPIMixin.get)
    delete = allow_unauthenticated(DeviceAPIMixin.delete)
