"""The clinician's record laid out as an A4 PDF with fpdf2: header, sections of tables, the week's chart, and
the disclaimer as every page's footer.

fpdf2 rather than reportlab: pure Python and small (its dependencies, Pillow and fontTools, come with
matplotlib already), it flows text and tables over pages by itself (`FPDF.table` repeats the heading row
after a page break), and a footer hook puts the disclaimer on every page. Text is set in DejaVu Sans,
the font matplotlib ships, so every character (–, ★, accents in a name) prints without a system font.
The chart stays matplotlib (bot/charts.py), embedded as a PNG. Drawn in the render thread after commit.
"""

from __future__ import annotations

from datetime import datetime
from io import BytesIO
from pathlib import Path
from typing import Any

from fpdf import FPDF
from fpdf.fonts import FontFace

FONT = "DejaVu"
MARGIN = 15  # mm
FOOTER_SIZE = 7  # pt
FOOTER_HEIGHT = 24  # mm kept free at the bottom of each page for the disclaimer and page number
HEADING_GREY = (230, 236, 242)


def _font_files() -> tuple[Path, Path]:
    import matplotlib

    folder = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    return folder / "DejaVuSans.ttf", folder / "DejaVuSans-Bold.ttf"


class RecordPDF(FPDF):
    def __init__(self, footer_text: str, page_text: str) -> None:
        super().__init__(orientation="portrait", unit="mm", format="A4")
        self.footer_text = footer_text
        self.page_text = page_text
        regular, bold = _font_files()
        self.add_font(FONT, "", str(regular))
        self.add_font(FONT, "B", str(bold))
        self.set_margins(MARGIN, MARGIN, MARGIN)
        self.set_auto_page_break(auto=True, margin=FOOTER_HEIGHT + 4)

    def footer(self) -> None:
        """The disclaimer on every page, below a rule, above the page number."""
        self.set_y(-FOOTER_HEIGHT)
        self.set_draw_color(160, 160, 160)
        self.line(MARGIN, self.get_y(), self.w - MARGIN, self.get_y())
        self.ln(1.5)
        self.set_font(FONT, "", FOOTER_SIZE)
        self.set_text_color(70, 70, 70)
        self.multi_cell(0, 3.2, self.footer_text, align="L")
        self.cell(0, 3.2, self.page_text.format(page=self.page_no(), pages="{nb}"), align="R")
        self.set_text_color(0, 0, 0)


def _heading(pdf: RecordPDF, text: str) -> None:
    if pdf.get_y() > pdf.h - FOOTER_HEIGHT - 30:  # a heading never sits alone at a page's foot
        pdf.add_page()
    pdf.ln(4)
    pdf.set_font(FONT, "B", 12)
    pdf.multi_cell(0, 7, text, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(1)


def _notes(pdf: RecordPDF, notes: list[str]) -> None:
    pdf.set_font(FONT, "", 9)
    for note in notes:
        pdf.multi_cell(0, 4.6, note, new_x="LMARGIN", new_y="NEXT")
    if notes:
        pdf.ln(1.5)


def _table(pdf: RecordPDF, table: dict[str, Any]) -> None:
    pdf.set_font(FONT, "", 8.5)
    headings = FontFace(emphasis="BOLD", fill_color=HEADING_GREY)
    with pdf.table(
        col_widths=tuple(table["widths"]),
        headings_style=headings,
        line_height=4.4,
        text_align="LEFT",
        padding=1.2,
        width=pdf.epw,
    ) as grid:
        for cells in [table["columns"], *table["rows"]]:
            row = grid.row()
            for cell in cells:
                row.cell(cell)
    pdf.ln(3)


def _chart(pdf: RecordPDF, week: dict[str, Any], content: Any) -> None:
    from bot.charts import weekly_png
    from bot.render_jobs import chart_labels, week_from_json

    goal = content.program.general_activity.daily_minutes
    png = weekly_png(week_from_json(week), chart_labels(content), goal.low, goal.high)
    width = pdf.epw
    height = width / 2  # the chart is 800 x 400 px
    if pdf.get_y() + height > pdf.h - FOOTER_HEIGHT - 4:
        pdf.add_page()
    pdf.image(BytesIO(png), x=MARGIN, y=pdf.get_y(), w=width, h=height)
    pdf.set_y(pdf.get_y() + height)


def record_pdf(record: dict[str, Any], content: Any) -> bytes:
    """The record (bot/record.build) as PDF bytes."""
    pdf = RecordPDF(record["footer"], record["page"])
    made = datetime.fromisoformat(record["made"])
    pdf.set_creation_date(made)
    pdf.set_title(record["title"])
    pdf.set_creator("BackCoach")
    pdf.add_page()
    pdf.set_font(FONT, "B", 16)
    pdf.cell(0, 9, record["title"], new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FONT, "", 10)
    for line in record["header"]:
        pdf.multi_cell(0, 5.5, line, new_x="LMARGIN", new_y="NEXT")
    for section in record["sections"]:
        _heading(pdf, section["heading"])
        if "chart" in section:
            _chart(pdf, section["chart"], content)
            continue
        _notes(pdf, section.get("notes", []))
        for table in [section["table"]] if "table" in section else section.get("tables", []):
            _table(pdf, table)
        _notes(pdf, section.get("notes_after", []))
    return bytes(pdf.output())
