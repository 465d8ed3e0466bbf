"""A chapter-like notebook for runner and reliability tests: the fission kernel, a tagged
parameters cell with every injected name, then the given code cells."""
import nbformat

PARAMETERS = ("edition = ''\nyear = 0\ncompare_year = 0\nlanguage = 'zh'\ndata_dir = ''\n"
              "min_group_size = 1\nsimulated = True\noutput_dir = ''")


def chapter_notebook(path, *bodies: str, title: str | None = None,
                     extra_parameters: str = "") -> None:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "fission", "display_name": "Python (fission)", "language": "python"}
    p = nbformat.v4.new_code_cell(PARAMETERS + ("\n" + extra_parameters if extra_parameters else ""))
    p.metadata["tags"] = ["parameters"]
    nb.cells = ([nbformat.v4.new_markdown_cell(title)] if title else []) + [p] + \
        [nbformat.v4.new_code_cell(b) for b in bodies]
    nbformat.write(nb, path)
