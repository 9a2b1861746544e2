"""Metadata a marketer reads in the Dagster UI without code: tables, counts, plots."""

import base64
import io

import dagster as dg
import polars as pl


def markdown_table(df: pl.DataFrame, columns: list[str], n: int = 10) -> str:
    """The first ``n`` rows as a Markdown table; cell text from data is flattened and cut."""
    cols = [c for c in columns if c in df.columns]
    head = "| " + " | ".join(cols) + " |\n|" + "---|" * len(cols) + "\n"
    rows = []
    for r in df.head(n).select(cols).iter_rows():
        cells = []
        for v in r:
            if isinstance(v, list):
                v = "; ".join(str(x) for x in v[:2])
            text = "" if v is None else str(v)
            # Pipes and newlines from untrusted text would break the table; angle brackets would be HTML.
            text = text.replace("|", "/").replace("\n", " ").replace("<", "‹").replace(">", "›")
            cells.append(text[:90])
        rows.append("| " + " | ".join(cells) + " |")
    return head + "\n".join(rows)


def risk_histogram(values: pl.Series, title: str) -> dg.MetadataValue:
    """A histogram of 0-100 risks as a Markdown image (inline PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data = values.drop_nulls().to_numpy()
    fig, ax = plt.subplots(figsize=(5, 2.4), dpi=90)
    ax.hist(data, bins=20, range=(0, 100), color="#4f6bed")
    ax.set_xlabel("risk (0-100, higher is riskier)")
    ax.set_ylabel("creators")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    encoded = base64.b64encode(buf.getvalue()).decode()
    return dg.MetadataValue.md(f"![{title}](data:image/png;base64,{encoded})")
