"""Result notices in batch: ``renew-fsm notice --institution H --out DIR`` on a simulated province.

The largest institution's notices are written as HTML (the target: 50 a second or
more, so that a hospital's notices are ready while its staff wait), then a sample
of them as PDF (WeasyPrint's layout, the embedded font cut once for the batch).
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Any

import renew_fsm
from renew_fsm.notice import NOTICE_STATES, notices_of, to_html, write_notices
from renew_fsm.paper import to_pdfs

from .common import child, target

#: How many of the institution's notices are also made as PDF (each costs a page layout).
PDF_SAMPLE = 40
TARGET_PER_SECOND = 50


def run(folder: Path, doctors: int) -> dict[str, Any]:
    print(f"\n5. Result notices of one institution, on a simulated province of {doctors:,} doctors")
    db = folder / f"notices-{doctors}.db"
    child("simulate", "--db", str(db), "--doctors", str(doctors))
    engine = renew_fsm.open(str(db))
    try:
        with_result = Counter(doc.institution for _, doc in engine.scan(NOTICE_STATES))
        institution, count = with_result.most_common(1)[0]
        out = folder / f"notices-{institution}"
        started = time.perf_counter()
        written = write_notices(engine, institution, out, fmt="html")
        html_s = time.perf_counter() - started
        assert len(written) == count, (len(written), count)
        sample = [to_html(n) for _, n in zip(range(PDF_SAMPLE), notices_of(engine, institution), strict=False)]
        started = time.perf_counter()
        pdfs = to_pdfs(sample)
        pdf_s = time.perf_counter() - started
    finally:
        engine.close()
    figures: dict[str, Any] = {
        "doctors": doctors,
        "institution": institution,
        "notices": count,
        "html_seconds": round(html_s, 3),
        "html_per_second": round(count / html_s, 1),
        "pdf_notices": len(pdfs),
        "pdf_seconds": round(pdf_s, 2),
        "pdf_per_second": round(len(pdfs) / pdf_s, 2),
    }
    print(
        f"   {institution}: {count} notices as HTML in {figures['html_seconds']} s"
        f" ({figures['html_per_second']}/s); {len(pdfs)} as PDF in {figures['pdf_seconds']} s"
        f" ({figures['pdf_per_second']}/s)"
    )
    figures["targets"] = [
        target(
            f"an institution's notices as HTML at {TARGET_PER_SECOND}/s or more",
            figures["html_per_second"] >= TARGET_PER_SECOND,
            f"{figures['html_per_second']}/s ({count} notices of {institution})",
        )
    ]
    return figures
