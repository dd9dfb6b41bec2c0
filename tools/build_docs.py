#!/usr/bin/env python
"""Build the documentation site (`_docs/`) and README.md from the notebooks in nbs/.

With Quarto on PATH this runs nbdev's `nbdev_docs`. Without it, nbdev's own docs processing (what `nbdev_docs` runs
before Quarto) and nbconvert render one page per notebook, named as nbdev names it (`output-file`), with the sidebar
of nbs/sidebar.yml, previous/next links, figures, folded code and math (typeset by a local MathJax when installed).
README.md is always the markdown export of the processed nbs/index.ipynb, so tests/test_readme.py agrees everywhere.
"""
import argparse, html, os, re, shutil, sys, tempfile
from pathlib import Path
import bs4, nbformat, yaml
import nbconvert.exporters.html, nbdev.serve_drv
from fastcore.parallel import parallel
from nbconvert import HTMLExporter, MarkdownExporter
from nbconvert.filters.markdown_mistune import IPythonRenderer
from nbdev.config import get_config
from nbdev.doclinks import nbglob
from nbdev.processors import FilterDefaults
from nbdev.quarto import nbdev_docs

ROOT = Path(__file__).resolve().parents[1]
# build and document the checkout's library, installed or not (spawned workers inherit it)
sys.path.insert(0, str(ROOT))
from smalldiffusion.fileio import atomic_write

ASSETS = Path(__file__).resolve().parent/'docs_site'
ASSET_EXTS = {'.png', '.jpg', '.jpeg', '.gif', '.svg', '.webp', '.css', '.js', '.pdf'}  # nbs/ files pages may link


def find_notebooks(nbs): return sorted(nbglob(nbs, as_path=True))


def sidebar(nbs):
    """nbs/sidebar.yml, Quarto's sidebar kept by hand (custom_sidebar): (its items, names and sections; notebook names
    in order)."""
    path = Path(nbs)/'sidebar.yml'
    items = yaml.safe_load(path.read_text())['website']['sidebar']['contents']
    order = [n for item in items for n in (item['contents'] if isinstance(item, dict) else [item])]
    present = [p.name for p in find_notebooks(nbs)]
    if missing := [n for n in present if n not in order]:
        raise ValueError(f'{path} leaves out {missing}: add each where a reader should meet it')
    if extra := [n for n in order if n not in present]: raise ValueError(f'{path} lists {extra}, which {nbs} lacks')
    return items, order


def process(srcs, dest, n_workers):
    "nbdev's docs processing (`FilterDefaults`) of notebooks `srcs` into folder `dest`."
    # the worker `proc_nbs` runs for `nbdev_docs`; proc_nbs itself writes <repo>/_proc behind an mtime cache that
    # misses changes to the library, so every build processes afresh into a temporary folder
    items = [(s, dest/s.name, FilterDefaults) for s in srcs]
    parallel(nbdev.serve_drv.main, items, n_workers=n_workers if len(items) > 1 else 0, method='spawn', pause=0.01)


def attr_links(md, site=True):
    """show_doc's Pandoc links with attributes, `[source](url){target="_blank" ...}`: HTML on the site, plain in
    README."""
    return re.sub(r'\[([^\]]*)\]\(([^)\s]+)\)\{([^}]*)\}', r'<a href="\2" \3>\1</a>' if site else r'[\1](\2)', md)


def cell_options(cell):
    "Take the Quarto options nbdev leaves atop a code cell (`#| echo: false`) off its source; return them."
    lines = cell.source.splitlines()
    n = next((i for i, l in enumerate(lines) if not l.lstrip().startswith('#|')), len(lines))
    cell.source = '\n'.join(lines[n:])
    return yaml.safe_load('\n'.join(l.lstrip()[2:].strip() for l in lines[:n])) or {}


def prepare(path, site=True):
    """A processed notebook with Quarto's cell options applied, and its frontmatter (which nbdev puts in a first raw
    cell)."""
    nb = nbformat.read(path, as_version=4)
    has_fm = nb.cells and nb.cells[0].source.startswith('---')
    fm = yaml.safe_load(nb.cells.pop(0).source.strip()[3:-3]) if has_fm else {}
    cells = []
    for cell in nb.cells:
        if cell.cell_type == 'markdown': cell.source = attr_links(cell.source, site)
        if cell.cell_type == 'code':
            opts = cell_options(cell)
            if opts.get('include') is False or not (cell.source.strip() or cell.outputs): continue
            if opts.get('echo') is False: cell.metadata['transient'] = {'remove_source': True}
            if opts.get('output') is False: cell.outputs = []
            if opts.get('code-fold'):
                cell.metadata['sd_fold'] = {'open': opts['code-fold'] == 'show',
                                            'summary': str(opts.get('code-summary', 'Code'))}
            for o in cell.outputs:
                if 'text/markdown' in o.get('data', {}):
                    o.data['text/markdown'] = attr_links(o.data['text/markdown'], site)
        cells.append(cell)
    nb.cells = cells
    nb.metadata.pop('widgets', None)  # the empty widget state nbdev's show_doc run leaves behind
    return nb, fm


class MathRenderer(IPythonRenderer):
    "Math marked up as Pandoc does: TeX in class=\"math\" spans, typeset by MathJax when it loads, readable when not."
    def inline_math(self, body): return f'<span class="math inline">\\({self.escape_html(body)}\\)</span>'
    def block_math(self, body): return f'<span class="math display">\\[{self.escape_html(body)}\\]</span>'
    def latex_environment(self, name, body):
        return f'<span class="math display">{super().latex_environment(name, body)}</span>'


def pandoc_id(text):
    "The id Pandoc (so Quarto) gives a heading, which nbdev's doc links point at."
    return re.sub(r'^[^a-z]+', '', re.sub(r'\s+', '-', re.sub(r'[^\w\s.-]', '', text.strip().lower()))) or 'section'


def postprocess(page, site_url):
    "Pandoc's heading ids, a table of contents, and links to the published site made relative."
    soup = bs4.BeautifulSoup(page, 'html.parser')
    seen, toc = set(), soup.new_tag('ul')
    for h in soup.main.find_all(re.compile(r'^h[1-6]$')):
        if 'title' in h.get('class', []): continue
        text = h.get_text().removesuffix('¶').strip()  # nbconvert ends each heading with an anchor link '¶'
        ident = base = pandoc_id(text); k = 0
        while ident in seen: k += 1; ident = f'{base}-{k}'  # Pandoc numbers repeated ids
        seen.add(ident); h['id'] = ident
        for a in h.find_all('a', class_='anchor-link'): a['href'] = f'#{ident}'
        if h.name in ('h2', 'h3'):
            li = soup.new_tag('li', attrs={'class': f'toc-{h.name}'})
            li.append(soup.new_tag('a', href=f'#{ident}', string=text))
            toc.append(li)
    for a in soup.find_all('a', href=lambda u: u and u.startswith(site_url)):
        a['href'] = a['href'][len(site_url):].lstrip('/') or 'index.html'
    if toc.contents:
        soup.find(id='TOC').extend([soup.new_tag('div', attrs={'class': 'toc-title'}, string='On this page'), toc])
    return str(soup)


def inline_md(text): return re.sub(r'`([^`]+)`', r'<code>\1</code>', html.escape(text, quote=False))


def mathjax_dir():
    "A local MathJax 2 (the `jupyter-server-mathjax` package) to ship with the site, if installed."
    try: import jupyter_server_mathjax
    except ImportError: return None
    d = Path(jupyter_server_mathjax.__file__).parent/'static'
    return d if (d/'MathJax.js').exists() else None


def build_site(cfg, nbs, proc, out, groups, order):
    "Render the processed notebooks in `proc` into the site folder `out`, swapped in whole."
    nbconvert.exporters.html.IPythonRenderer = MathRenderer  # HTMLExporter.markdown2html builds its renderer from it
    exporter = HTMLExporter(template_name='lab', extra_template_paths=[str(ASSETS)], template_file='sd_page.html.j2',
                            exclude_input_prompt=True, exclude_output_prompt=True, anchor_link_text='¶')
    pages = {}
    for src in find_notebooks(nbs):
        nb, fm = prepare(proc/src.name)
        if 'output-file' not in fm:
            raise SystemExit(f'{src.name} has no title: nbdev names a page from its `# Title` cell')
        pages[src.name] = dict(nb=nb, file=fm['output-file'], title=str(fm['title']),
                               description=str(fm.get('description') or ''))
    mathjax = mathjax_dir()
    site_url, site_title = f'{cfg.doc_host}{cfg.doc_baseurl}'.rstrip('/'), cfg.get('title', cfg.lib_name)
    out = Path(out).resolve(); out.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f'.{out.name}-', dir=out.parent))
    try:
        umask = os.umask(0); os.umask(umask); os.chmod(stage, 0o777 & ~umask)  # mkdtemp makes it private
        ignore = lambda d, names: [n for n in names if n.startswith(('_', '.')) or
                                   (Path(d, n).is_file() and Path(n).suffix.lower() not in ASSET_EXTS)]
        shutil.copytree(nbs, stage, ignore=ignore, dirs_exist_ok=True)  # styles.css and any figures the pages link
        (stage/'site_libs').mkdir()
        shutil.copy2(ASSETS/'site.css', stage/'site_libs')
        env = exporter.environment  # JupyterLab's CSS, one shared file instead of a copy in every page
        (stage/'site_libs'/'jupyterlab.css').write_text('\n'.join(env.loader.get_source(env, f'static/{n}')[0]
                                                                 for n in ('index.css', 'theme-light.css')))
        if mathjax:
            shutil.copy2(ASSETS/'mathjax-config.js', stage/'site_libs')
            shutil.copytree(mathjax, stage/'site_libs'/'mathjax')
        for name, p in pages.items():
            def entry(n): return dict(title=inline_md(pages[n]['title']), href=pages[n]['file'], active=n == name)
            i = order.index(name)
            sd = dict(title=inline_md(p['title']), description=inline_md(p['description']), site_title=site_title,
                      repo_url=cfg.get('git_url', ''), mathjax=bool(mathjax),
                      sidebar=[dict(section=g['section'], contents=[entry(n) for n in g['contents']])
                               if isinstance(g, dict) else entry(g) for g in groups],
                      prev=dict(entry(order[i - 1]), active=False) if i else None,
                      next=dict(entry(order[i + 1]), active=False) if i + 1 < len(order) else None)
            p['nb'].metadata['title'] = f"{p['title'].replace('`', '')} – {site_title}"
            resources = {'metadata': {'name': p['title'], 'path': str(nbs)}, 'sd': sd}
            body, _ = exporter.from_notebook_node(p['nb'], resources=resources)
            (stage/p['file']).write_text(postprocess(body, site_url), encoding='utf-8')
        old = out.parent/f'.{out.name}-old-{os.getpid()}'
        if out.exists(): os.replace(out, old)
        os.replace(stage, out)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    math = 'shipped' if mathjax else 'not installed: math shown as TeX'
    print(f'built {len(pages)} pages into {out} (MathJax {math})')


def write_readme(cfg, nb_path, dest):
    "README.md and the figures it shows, from the processed readme notebook, by nbconvert's markdown export."
    nb, fm = prepare(nb_path, site=False)
    exporter = MarkdownExporter(exclude_input_prompt=True, exclude_output_prompt=True)
    body, res = exporter.from_notebook_node(nb, resources={'output_files_dir': f'{nb_path.stem}_files'})
    head = f"# {fm.get('title', cfg.lib_name)}\n\n" + (f"> {fm['description']}\n\n" if fm.get('description') else '')
    body = re.sub(r'^[ \t]+$', '', body, flags=re.MULTILINE)  # nbconvert pads figure lines with spaces
    text = head + re.sub(r'\n{3,}', '\n\n', body).strip() + '\n'
    site_url = f'{cfg.doc_host}{cfg.doc_baseurl}'.rstrip('/')  # relative links to the site's pages: absolute on GitHub
    text = re.sub(r'\]\((?![a-z][a-z0-9+.-]*:|/)([^)\s#]+\.html(#[^)\s]*)?)\)', rf']({site_url}/\1)', text)
    files = {dest.parent/name: data for name, data in res.get('outputs', {}).items()}
    for path, data in {**files, dest: text.encode('utf-8')}.items():
        if not path.exists() or path.read_bytes() != data: atomic_write(path, lambda tmp: Path(tmp).write_bytes(data))
    print(f'README: {dest}')


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--readme-only', action='store_true', help='only regenerate README.md from nbs/index.ipynb')
    ap.add_argument('--no-readme', action='store_true', help='build the site only, leave README.md alone')
    ap.add_argument('--offline', action='store_true', help='use the offline renderer even when quarto is on PATH')
    ap.add_argument('--out', type=Path, help='site folder (default: doc_path from settings.ini, _docs)')
    ap.add_argument('--readme', type=Path, help='README path to write (default: README.md at the repo root)')
    ap.add_argument('--nbs', type=Path, help='notebook folder (default: nbs_path from settings.ini)')
    ap.add_argument('-j', '--workers', type=int, default=min(2, os.cpu_count() or 1), help='processing workers')
    args = ap.parse_args(argv)
    os.chdir(ROOT)  # nbdev reads settings.ini from the working directory
    os.environ.setdefault('TQDM_DISABLE', '1')  # cells run for the docs print no progress bars
    cfg = get_config()
    nbs = (args.nbs or cfg.nbs_path).resolve()
    readme_nb = nbs/cfg.readme_nb
    if args.readme_only and not readme_nb.exists(): raise SystemExit(f'{readme_nb} is missing: it is the README source')
    quarto = shutil.which('quarto') and not (args.offline or args.out or args.nbs)
    if quarto and not args.readme_only: nbdev_docs.__wrapped__()  # the published site (its README.md is replaced below)
    site, readme = not (quarto or args.readme_only), not args.no_readme and readme_nb.exists()
    groups, order = sidebar(nbs) if site else (None, None)  # a sidebar.yml that leaves a notebook out stops us here
    with tempfile.TemporaryDirectory(prefix='_proc-') as proc:
        process(find_notebooks(nbs) if site else [readme_nb] if readme else [], Path(proc), args.workers)
        if site: build_site(cfg, nbs, Path(proc), args.out or cfg.doc_path, groups, order)
        if readme: write_readme(cfg, Path(proc)/readme_nb.name, (args.readme or cfg.config_path/'README.md').resolve())


if __name__ == '__main__':
    main()
