"""A suite's ``cost:`` section: the price of the machine, for ``cost_per_1k_items_usd``."""

from __future__ import annotations

from pydantic import Field, model_validator

from harness.config.fields import Strict, float_in


class CostSpec(Strict):
    """The price of the machine a job runs on, for ``cost_per_1k_items_usd``: one price, or one per device
    (keys match the device name, case-insensitively, as a substring — ``H100``, ``A10G`` — or the device kind
    ``cpu`` / ``cuda``; the longest matching key wins, then ``usd_per_hour``)."""

    usd_per_hour: float_in(0.0, 1e6) | None = None
    by_device: dict[str, float_in(0.0, 1e6)] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _some_price(self) -> CostSpec:
        if self.usd_per_hour is None and not self.by_device:
            raise ValueError("give usd_per_hour, by_device, or both")
        return self

    def price(self, device: str, device_name: str | None) -> tuple[float, str] | None:
        """(USD per hour, which key gave it) for a job on ``device`` named ``device_name``; None: no price."""
        name = (device_name or "").lower()
        kind = device.split(":")[0]
        named = sorted(
            (k for k in self.by_device if k.lower() in name and k.lower() not in ("cpu", "cuda")), key=len
        )
        if named:
            return self.by_device[named[-1]], f"by_device.{named[-1]}"
        if kind in self.by_device:
            return self.by_device[kind], f"by_device.{kind}"
        if self.usd_per_hour is not None:
            return self.usd_per_hour, "usd_per_hour"
        return None

    def missing_price(self, device: str) -> str | None:
        """Why no job on ``device`` (``cpu``, ``cuda``, ``cuda:N`` or ``auto``, its GPU's name not yet known)
        can get a price; None when one may."""
        kind = device.split(":")[0]
        if self.usd_per_hour is not None or kind in self.by_device:
            return None
        if kind in ("cuda", "auto") and any(k.lower() != "cpu" for k in self.by_device):
            return None  # a GPU's name is matched when the job runs
        if kind == "auto" and "cpu" in self.by_device:
            return None
        return f"cost.by_device has no key for a {kind} job ({', '.join(self.by_device)}) and no usd_per_hour"
