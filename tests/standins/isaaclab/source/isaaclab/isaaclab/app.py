"""Stand-in of ``isaaclab.app.AppLauncher`` (Isaac Lab ``source/isaaclab/isaaclab/app/app_launcher.py``, 2.x).

``AppLauncher.add_app_launcher_args(parser)`` adds the launcher's flags in their own argument group, with the real
names, types, choices and defaults: ``--headless``, ``--livestream {0,1,2}`` (default -1), ``--enable_cameras``,
``--xr``, ``--device`` (default ``cuda:0``), ``--cpu`` (hidden, deprecated), ``--verbose``, ``--info``,
``--experience``, ``--rendering_mode {performance,balanced,quality}``, ``--kit_args``. Like the real method it
refuses a parser that already defines one of these names (``ValueError``). ``AppLauncher(args)`` starts no
simulator: it reads ``LOCAL_RANK`` (as the real one does for ``--distributed``) and offers ``.app.close()``.
"""

from __future__ import annotations

import argparse
import os

_LAUNCHER_DESTS = (
    "headless",
    "livestream",
    "enable_cameras",
    "xr",
    "device",
    "cpu",
    "verbose",
    "info",
    "experience",
    "rendering_mode",
    "kit_args",
)


class _SimulationApp:
    """What scripts use of Isaac Sim's ``SimulationApp``: ``close()`` and ``is_running()``."""

    def __init__(self) -> None:
        self._running = True

    def is_running(self) -> bool:
        return self._running

    def close(self) -> None:
        self._running = False


class AppLauncher:
    """Parses nothing itself: the script's parser got the flags from :meth:`add_app_launcher_args`."""

    def __init__(self, launcher_args: argparse.Namespace | dict | None = None, **kwargs: object) -> None:
        args = vars(launcher_args) if isinstance(launcher_args, argparse.Namespace) else dict(launcher_args or {})
        args.update(kwargs)
        self.local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        self.global_rank = int(os.environ.get("RANK", "0"))
        self.device_id = self.local_rank if args.get("distributed") else 0
        self.app = _SimulationApp()
        print("Simulation App Startup Complete", flush=True)

    @staticmethod
    def add_app_launcher_args(parser: argparse.ArgumentParser) -> None:
        """Add the launcher's flags to ``parser`` (an existing flag of the same name is an error, as upstream)."""
        clash = sorted({action.dest for action in parser._actions} & set(_LAUNCHER_DESTS))
        if clash:
            raise ValueError(
                f"The passed ArgParser object already has the field '{clash[0]}'. This field will be added by"
                " `AppLauncher.add_app_launcher_args()`, and should not be added directly. Instead, pass the value"
                " for this field directly to the `AppLauncher` object."
            )
        group = parser.add_argument_group("app_launcher arguments", description="Arguments for the AppLauncher.")
        group.add_argument("--headless", action="store_true", default=False, help="Force display off at all times.")
        group.add_argument("--livestream", type=int, default=-1, choices={0, 1, 2}, help="Force enable livestreaming.")
        group.add_argument("--enable_cameras", action="store_true", default=False, help="Enable camera sensors.")
        group.add_argument("--xr", action="store_true", default=False, help="Enable XR mode for VR/AR applications.")
        group.add_argument("--device", type=str, default="cuda:0", help="The device to run the simulation on.")
        group.add_argument("--cpu", action="store_true", help=argparse.SUPPRESS)
        group.add_argument("--verbose", action="store_true", help="Enable verbose-level log output from the app.")
        group.add_argument("--info", action="store_true", help="Enable info-level log output from the app.")
        group.add_argument("--experience", type=str, default="", help="The experience file to load.")
        group.add_argument(
            "--rendering_mode", type=str, default=None, choices={"performance", "balanced", "quality"}, help="Preset."
        )
        group.add_argument("--kit_args", type=str, default="", help="Command line arguments for Omniverse Kit.")
