#!/usr/bin/env python
"""Build the documentation site (`_docs/`) and README.md from the notebooks in nbs/.

With Quarto on PATH this runs nbdev's own `nbdev_docs` (the published site). Without it (this machine, CI),
it runs nbdev's notebook processing (show_doc sections, directives, hidden cells removed) into a temporary
folder and renders the processed notebooks with nbconvert's HTML exporter and `tools/docs_site/sd_page.html.j2`:
one page per notebook, named as nbdev tells Quarto (`output-file`), a sidebar in tutorial order, figures,
API sections, and math that MathJax typesets when shipped locally and that stays readable TeX otherwise.

README.md is always written by the same markdown export of the processed `nbs/index.ipynb`, so that
`tests/test_readme.py` gives the same answer on every machine.
"""
from __future__ import annotations

import argparse, ast, html, os, re, shutil, subprocess, sys, tempfile, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ASSETS = Path(__file__).resolve().parent/'docs_site'
REFERENCE_RE = re.compile(r'^9\d')  # 90_package, 91_diffusion...: the "Reference" section, after the tutorial
ASSET_EXTS = {'.png', '.jpg', '.jpeg', '.gif', '.svg', '.webp', '.css', '.js', '.pdf'}
_re_directive = re.compile(r'^\s*#\|\s*([\w-]+)\s*(?::\s*(.*?))?\s*$')
_re_fence = re.compile(r'^\s*:::+\s*(.*?)\s*$')
SLOW_NB_S = 30  # report notebooks whose docs processing takes longer than this
_UMASK = os.umask(0); os.umask(_UMASK)


def write_atomic(path: Path, data: str | bytes):
    "Write `data` to `path` through a temporary file in the same folder and `os.replace`."
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f'.{path.name}.', suffix='.tmp')
    try:
        with os.fdopen(fd, 'wb') as f: f.write(data.encode('utf-8') if isinstance(data, str) else data)
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600 files; published files are world-readable
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp): os.unlink(tmp)
        raise


def write_if_changed(path: Path, text: str) -> bool:
    "Atomically write `text` unless `path` already holds it; True when written."
    if path.exists() and path.read_text(encoding='utf-8') == text: return False
    write_atomic(path, text)
    return True


# ---------------------------------------------------------------- notebooks and their order
def find_notebooks(nbs: Path) -> list[Path]:
    "The notebooks the site is built from: nbs/*.ipynb, skipping names starting with `_` or `.`."
    return sorted(p for p in Path(nbs).glob('*.ipynb') if not p.name.startswith(('_', '.')))


# The learner's order: data -> training -> sampling -> schedules -> images -> latent diffusion, flow, conditional;
# numerical analysis (higher-order samplers, the mixture test bed, the benchmark) after it, in its own section.
LEARNER_ORDER = ['index.ipynb', '00a_data.ipynb', '00b_model.ipynb', '01_training.ipynb', '02_sampling.ipynb',
                 '00_schedule.ipynb', '03_unet.ipynb', '03a_dit.ipynb', '03b_image_training.ipynb', '04_diffusers.ipynb',
                 '05_flow.ipynb', '06_conditional.ipynb']
ADVANCED = ['02a_samplers.ipynb', '02b_mixture.ipynb', '02c_sampler_benchmark.ipynb']


def sidebar_groups(names: list[str]) -> list[tuple]:
    "Notebook names as (section title or None, names): the tutorial in the learner's order, 'Advanced', 'Reference' (9x_)."
    names = sorted(set(names))
    ref = [n for n in names if REFERENCE_RE.match(n)]
    adv = [n for n in ADVANCED if n in names]
    rank = {n: i for i, n in enumerate(LEARNER_ORDER)}
    main = sorted((n for n in names if n not in ref and n not in adv), key=lambda n: (rank.get(n, len(rank)), n))
    return [(None, main)] + [(t, g) for t, g in (('Advanced', adv), ('Reference', ref)) if g]


def tutorial_order(names: list[str]) -> tuple[list[str], list[str]]:
    "(the tutorial's pages, Advanced included, in reading order; the reference pages 9x_)."
    groups = sidebar_groups(names)
    return ([n for t, g in groups if t != 'Reference' for n in g], [n for t, g in groups if t == 'Reference' for n in g])


def sidebar_yml(names: list[str]) -> str:
    "Quarto's custom sidebar (nbs/sidebar.yml) for these notebooks, in the learner's order."
    lines = ['website:', '  sidebar:', '    contents:']
    for title, group in sidebar_groups(names):
        if title is None: lines += [f'      - {n}' for n in group]
        else: lines += [f'      - section: {title}', '        contents:'] + [f'          - {n}' for n in group]
    return '\n'.join(lines) + '\n'


def nbdev_yml(cfg) -> str:
    "nbs/nbdev.yml exactly as nbdev's `refresh_quarto_yml` writes it from settings.ini."
    from nbdev.quarto import _nbdev_yml
    vals = {k: cfg[k] for k in ['title', 'description', 'branch', 'git_url', 'doc_host', 'doc_baseurl']}
    return _nbdev_yml.format(doc_path=cfg.doc_path.name, **vals)


def sync_quarto_config(cfg, nbs: Path, names: list[str]):
    "Keep nbs/sidebar.yml and nbs/nbdev.yml in step with the notebooks present and settings.ini."
    if write_if_changed(nbs/'sidebar.yml', sidebar_yml(names)): print(f'updated {nbs/"sidebar.yml"}')
    if write_if_changed(nbs/'nbdev.yml', nbdev_yml(cfg)): print(f'updated {nbs/"nbdev.yml"}')


# ---------------------------------------------------------------- nbdev processing
def _docs_filters(strict: bool):
    "nbdev's docs processors; unless `strict`, cells that mix imports with other code only run their imports."
    from nbdev.processors import FilterDefaults, exec_show_docs, _do_eval, _show_docs
    from fastcore.basics import str2bool
    if strict: return FilterDefaults

    class exec_show_docs_imports(exec_show_docs):
        "nbdev's `exec_show_docs`, except that a cell it runs only for its imports runs just those statements."
        def __call__(self, cell):
            if not getattr(self.nb, 'has_docs_', None) or not hasattr(self, 'k') or not _do_eval(cell):
                return super().__call__(cell)
            trees = cell.parsed_()
            if cell.directives_.keys() & {'export', 'exports', 'exporti', 'exec_doc'} or _show_docs(trees):
                return super().__call__(cell)
            imports = [t for t in trees if isinstance(t, (ast.Import, ast.ImportFrom))]
            if len(imports) == len(trees): return super().__call__(cell)
            if str2bool(getattr(self.nb, 'frontmatter_', {}).get('skip_showdoc', False)) or not imports: return
            self.k.run(ast.unparse(ast.Module(body=imports, type_ignores=[])))
            if self.k.exc: raise Exception(f'Error in cell {cell.idx_} :\n{cell.source}') from self.k.exc

    class DocsFilters(FilterDefaults):
        def base_procs(self): return [exec_show_docs_imports if p is exec_show_docs else p for p in super().base_procs()]
    return DocsFilters


def _process_one(item) -> tuple[str | None, float, list[int]]:
    "nbdev's docs processing of one notebook (what `nbdev_proc_nbs` runs): (error or None, seconds, mixed cells)."
    import json, time, warnings
    import nbdev.serve_drv
    src, dst, strict = item
    item = (src, dst, _docs_filters(strict))
    t = time.time()
    srcs = [''.join(c.get('source', '')).strip() for c in json.loads(item[0].read_text(encoding='utf-8'))['cells']]
    def where(quoted):  # nbdev quotes a cell's source without its directives: find it in the notebook
        idx = [i for i, src in enumerate(srcs) if quoted.strip() and src.endswith(quoted.strip())]
        return idx[0] if idx else None
    with warnings.catch_warnings(record=True) as caught:
        warnings.filterwarnings('always', message='Found cells containing imports')
        try: nbdev.serve_drv.main(item); err = None
        except Exception as e:
            cause, (head, _, quoted) = e.__cause__ or e, str(e).partition(' :\n')
            i = where(quoted)
            line = next((l for l in srcs[i].splitlines() if not l.lstrip().startswith('#|')), '')[:60] if i is not None else ''
            err = (f'{item[0].name}{f" cell {i} ({line!r})" if i is not None else ""}: '
                   f'{type(cause).__name__}: {(str(cause).splitlines() or [""])[0]}')
    # nbdev's warning quotes each cell that mixes imports with other code: report their indices instead
    quoted = [m.group(1) for w in caught if (m := re.search(r'---\n(.*)\n---', str(w.message), re.DOTALL))]
    mixed = sorted({i for q in quoted if (i := where(q)) is not None})
    return err, time.time() - t, mixed


def process_notebooks(srcs: list[Path], dest: Path, n_workers: int, strict: bool = False) -> dict[Path, Path]:
    "nbdev's docs processing (its `FilterDefaults`, as `nbdev_proc_nbs` runs them) of `srcs` into `dest`."
    from fastcore.parallel import parallel
    # document the checkout's library (what nbdev_export wrote), installed editable or not
    if str(ROOT) not in sys.path: sys.path.insert(0, str(ROOT))
    os.environ['PYTHONPATH'] = os.pathsep.join([str(ROOT)] + [p for p in os.environ.get('PYTHONPATH', '').split(os.pathsep) if p])
    os.environ.setdefault('TQDM_DISABLE', '1')   # cells run for the docs print no progress bars
    out = {s: Path(dest)/s.name for s in srcs}
    items = [(s, d, strict) for s, d in out.items()]
    if n_workers <= 1 or len(items) == 1: results = [_process_one(it) for it in items]
    else:
        # workers unpickle the function by module name: use the importable module, also when run as a script
        if str(Path(__file__).parent) not in sys.path: sys.path.insert(0, str(Path(__file__).parent))
        from build_docs import _process_one as worker
        results = parallel(worker, items, n_workers=min(n_workers, len(items)), pause=0.01, method='spawn')
    for (src, *_), (_, secs, mixed) in zip(items, results):
        if mixed: print(f'{src.name}: cell{"s" if len(mixed) > 1 else ""} {", ".join(map(str, mixed))} (0-based) mix imports '
                        f'with other code: nbdev_docs runs {"them" if len(mixed) > 1 else "it"} in full'
                        f'{"" if strict else " (this build ran only the imports: check with --strict)"}'
                        f'{f"; took {secs:.0f}s" if secs > SLOW_NB_S else ""}')
    errors = [e for e, *_ in results if e]
    if errors:
        raise SystemExit('nbdev could not process these notebooks for the docs:\n  ' + '\n  '.join(errors) +
                         '\nnbdev runs every exported cell, show_doc cell and any cell with an import statement '
                         '(nbdev FAQ): keep imports in a cell of their own.')
    return out


def split_directives(source: str) -> tuple[dict, str]:
    "Take the leading `#| key: value` lines (Quarto cell options) off a code cell's source."
    import yaml
    opts, lines = {}, source.splitlines()
    while lines and (m := _re_directive.match(lines[0])):
        key, val = m.group(1), m.group(2)
        try: opts[key] = yaml.safe_load(val) if val else True
        except yaml.YAMLError: opts[key] = val
        lines.pop(0)
    return opts, '\n'.join(lines)


def _fence_attrs(spec: str) -> str:
    "HTML attributes for a Quarto fenced div spec such as `{.callout-note #id}` or `note`."
    spec = spec.strip().strip('{}').strip()
    classes, ident = [], ''
    for tok in spec.split():
        if tok.startswith('.'): classes.append(tok[1:])
        elif tok.startswith('#'): ident = tok[1:]
        elif '=' not in tok: classes.append(tok)
    if any(c.startswith('callout') for c in classes): classes.insert(0, 'callout')
    attrs = f' class="{html.escape(" ".join(classes))}"' if classes else ''
    return attrs + (f' id="{html.escape(ident)}"' if ident else '')


def fenced_divs_to_html(md: str, keep: bool = True) -> str:
    "Turn Quarto `:::` fenced divs into HTML divs around markdown (or drop the fences when `keep` is False)."
    out, in_code = [], False
    for line in md.splitlines():
        if line.lstrip().startswith(('```', '~~~')): in_code = not in_code
        m = None if in_code else _re_fence.match(line)
        if not m: out.append(line); continue
        if not keep: continue
        out.append(f'\n<div{_fence_attrs(m.group(1))}>\n' if m.group(1) else '\n</div>\n')
    return '\n'.join(out)


_re_attr_link = re.compile(r'\[([^\]]*)\]\(([^)\s]+)\)\{([^}]*)\}')
_re_attr = re.compile(r'([\w-]+)=(?:"([^"]*)"|(\S+))')


def attr_links(md: str, keep: bool = True) -> str:
    "Pandoc links with attributes, `[source](url){target=\"_blank\"}` (show_doc writes them), as HTML links."
    def _a(m):
        text, url, spec = m.groups()
        if not keep: return f'[{text}]({url})'
        attrs = ''.join(f' {k}="{html.escape(v1 or v2)}"' for k, v1, v2 in _re_attr.findall(spec))
        cls = ' '.join(t[1:] for t in spec.split() if t.startswith('.'))
        if cls: attrs += f' class="{html.escape(cls)}"'
        return f'<a href="{html.escape(url)}"{attrs}>{text}</a>'
    return _re_attr_link.sub(_a, md)


def quarto_markdown(md: str, keep: bool = True) -> str:
    "The Quarto-only markdown nbdev uses (fenced divs, link attributes) as plain markdown + HTML."
    return attr_links(fenced_divs_to_html(md, keep=keep), keep=keep)


def prepare(nb, for_readme: bool = False) -> dict:
    "Apply the Quarto options nbdev leaves in a processed notebook; return its frontmatter."
    import yaml
    fm, cells = {}, []
    for i, cell in enumerate(nb.cells):
        src = cell.get('source', None)
        if src is None: continue
        if cell.cell_type == 'raw':
            m = re.match(r'^\s*---\s*\n(.*?)\n---\s*$', src, flags=re.DOTALL)
            if m and not fm and i == 0:
                fm = yaml.safe_load(m.group(1)) or {}
                continue
        if cell.cell_type == 'markdown': cell.source = quarto_markdown(src, keep=not for_readme)
        if cell.cell_type == 'code':
            opts, cell.source = split_directives(src)
            if opts.get('include') is False: continue
            if opts.get('echo') is False: cell.metadata.setdefault('transient', {})['remove_source'] = True
            if opts.get('output') is False: cell.outputs = []
            if opts.get('code-fold') not in (None, False):
                cell.metadata['sd_fold'] = {'open': opts['code-fold'] == 'show',
                                            'summary': str(opts.get('code-summary', 'Code'))}
            if not cell.source.strip() and not cell.get('outputs'): continue
            for o in cell.get('outputs', []):
                md = o.get('data', {}).get('text/markdown')
                if md is not None:
                    md = ''.join(md) if isinstance(md, list) else md
                    o['data']['text/markdown'] = quarto_markdown(md, keep=not for_readme)
        cells.append(cell)
    nb.cells = cells
    nb.metadata.pop('widgets', None)  # empty widget state nbdev's show_doc run leaves behind
    return fm


# ---------------------------------------------------------------- HTML rendering
def _make_exporter():
    from jinja2 import pass_context
    from nbconvert import HTMLExporter
    from nbconvert.filters.markdown_mistune import IPythonRenderer, MarkdownWithMath

    class MathRenderer(IPythonRenderer):
        "Math as Pandoc marks it: TeX inside class=\"math\" spans, typeset by MathJax when it loads."
        def inline_math(self, body): return f'<span class="math inline">\\({self.escape_html(body)}\\)</span>'
        def block_math(self, body): return f'<span class="math display">\\[{self.escape_html(body)}\\]</span>'
        def latex_environment(self, name, body):
            name, body = self.escape_html(name), self.escape_html(body)
            return f'<span class="math display">\\begin{{{name}}}{body}\\end{{{name}}}</span>'

    class DocsExporter(HTMLExporter):
        @pass_context
        def markdown2html(self, context, source):
            cell = context.get('cell', {})
            path = context.get('resources', {}).get('metadata', {}).get('path', '')
            renderer = MathRenderer(escape=False, attachments=cell.get('attachments', {}), embed_images=False,
                                    path=path, anchor_link_text=self.anchor_link_text,
                                    exclude_anchor_links=self.exclude_anchor_links, **self.lexer_options)
            return MarkdownWithMath(renderer=renderer).render(source)

    return DocsExporter(template_name='lab', extra_template_paths=[str(ASSETS)], template_file='sd_page.html.j2',
                        exclude_input_prompt=True, exclude_output_prompt=True, anchor_link_text='¶')


def pandoc_id(text: str) -> str:
    "The identifier Pandoc/Quarto gives a heading (what nbdev's doc links point at)."
    s = re.sub(r'[^\w\s.-]', '', text.strip().lower())
    s = re.sub(r'\s+', '-', s)
    return re.sub(r'^[^a-z]+', '', s) or 'section'


def postprocess(page: str, link_map: dict[str, str], site_url: str) -> str:
    "Quarto-style heading ids, a table of contents, and local links for the site's own pages."
    import bs4
    soup = bs4.BeautifulSoup(page, 'html.parser')
    main = soup.find('main')
    seen, renamed, toc = set(), {}, []
    for h in main.find_all(['h1', 'h2', 'h3', 'h4', 'h5', 'h6']):
        if 'title' in (h.get('class') or []): continue
        text = ''.join(s for s in h.find_all(string=True) if s.parent.name != 'a' or 'anchor-link' not in (s.parent.get('class') or []))
        base = new = pandoc_id(text)
        k = 0
        while new in seen: k += 1; new = f'{base}-{k}'
        seen.add(new)
        if h.get('id'): renamed[h['id']] = new
        h['id'] = new
        for a in h.find_all('a', class_='anchor-link'): a['href'] = f'#{new}'
        if h.name in ('h2', 'h3'): toc.append((h.name, new, text.strip()))
    for a in soup.find_all('a', href=True):
        href = a['href']
        if site_url and href.startswith(site_url): href = href[len(site_url):].lstrip('/') or 'index.html'
        target, _, frag = href.partition('#')
        if not re.match(r'^[a-z][a-z0-9+.-]*:', target) and target.endswith('.ipynb'):
            target = link_map.get(Path(target).name, target)
        if target == '' and frag in renamed: frag = renamed[frag]
        a['href'] = target + (f'#{frag}' if frag else '')
    nav = soup.find(id='TOC')
    if nav is not None and toc:
        title = soup.new_tag('div', attrs={'class': 'toc-title'}); title.string = 'On this page'
        ul = soup.new_tag('ul')
        for level, ident, text in toc:
            li = soup.new_tag('li', attrs={'class': f'toc-{level}'})
            a = soup.new_tag('a', href=f'#{ident}'); a.string = text
            li.append(a); ul.append(li)
        nav.append(title); nav.append(ul)
    return str(soup)


def inline_md(text: str) -> str:
    "A title or description as HTML: escaped, with `code` spans (Quarto renders titles as markdown)."
    return re.sub(r'`([^`]+)`', r'<code>\1</code>', html.escape(text, quote=False))


def mathjax_dir() -> Path | None:
    "A local MathJax 2 (the `jupyter-server-mathjax` package) to ship with the site, if installed."
    try: import jupyter_server_mathjax
    except ImportError: return None
    d = Path(jupyter_server_mathjax.__file__).parent/'static'
    return d if (d/'MathJax.js').exists() else None


def lab_css(exporter) -> str:
    "JupyterLab's notebook CSS from nbconvert's lab template (one shared file instead of one copy per page)."
    env = exporter.environment
    return '\n'.join(env.loader.get_source(env, f'static/{n}')[0] for n in ('index.css', 'theme-light.css'))


def build_site(cfg, nbs: Path, out: Path, n_workers: int, sync: bool = True, strict: bool = False):
    "Offline path: nbdev processing + nbconvert rendering into `out`, swapped in atomically."
    import nbformat
    srcs = find_notebooks(nbs)
    if not srcs: raise SystemExit(f'no notebooks in {nbs}')
    if sync: sync_quarto_config(cfg, nbs, [p.name for p in srcs])
    site_url = f"{cfg.get('doc_host', '')}{cfg.get('doc_baseurl', '')}".rstrip('/')
    out = Path(out).resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    with tempfile.TemporaryDirectory(prefix='_proc-') as proc_dir:
        processed = process_notebooks(srcs, Path(proc_dir), n_workers, strict=strict)
        t1 = time.time()
        pages = {}
        for src in srcs:
            nb = nbformat.read(processed[src], as_version=4)
            fm = prepare(nb)
            fname = fm.get('output-file') or _default_html(src)
            pages[src.name] = dict(nb=nb, fm=fm, file=fname, title=str(fm.get('title', src.stem)),
                                   description=str(fm.get('description', '') or ''))
        groups = sidebar_groups(list(pages))
        reading = [n for _, g in groups for n in g]   # previous/next links follow the sidebar
        link_map = {n: p['file'] for n, p in pages.items()}
        mj = mathjax_dir()
        exporter = _make_exporter()
        stage = Path(tempfile.mkdtemp(prefix=f'.{out.name}-', dir=out.parent))
        try:
            os.chmod(stage, 0o777 & ~_UMASK)
            (stage/'site_libs').mkdir()
            write_atomic(stage/'site_libs'/'site.css', (ASSETS/'site.css').read_text())
            write_atomic(stage/'site_libs'/'jupyterlab.css', lab_css(exporter))
            if mj:
                shutil.copy2(ASSETS/'mathjax-config.js', stage/'site_libs'/'mathjax-config.js')
                shutil.copytree(mj, stage/'site_libs'/'mathjax')
            styles = nbs/'styles.css'
            write_atomic(stage/'styles.css', styles.read_text() if styles.exists() else '')
            for f in nbs.rglob('*'):  # images and other files the notebooks link to
                rel = f.relative_to(nbs)
                if f.is_file() and f.suffix.lower() in ASSET_EXTS and not any(p.startswith(('_', '.')) for p in rel.parts):
                    (stage/rel).parent.mkdir(parents=True, exist_ok=True); shutil.copy2(f, stage/rel)
            for name, p in pages.items():
                def entry(n): return dict(title=inline_md(pages[n]['title']), href=pages[n]['file'], active=n == name)
                sidebar = []
                for title, group in groups:
                    if title is None: sidebar += [entry(n) for n in group]
                    else: sidebar.append(dict(section=title, contents=[entry(n) for n in group]))
                i = reading.index(name)
                prev_page = dict(entry(reading[i - 1]), active=False) if i > 0 else None
                next_page = dict(entry(reading[i + 1]), active=False) if i + 1 < len(reading) else None
                p['nb'].metadata['title'] = f"{p['title'].replace('`', '')} – {cfg.get('title', cfg.lib_name)}"
                res = {'metadata': {'name': p['title'], 'path': str(nbs)},
                       'sd': dict(title=inline_md(p['title']), description=inline_md(p['description']), sidebar=sidebar,
                                  site_title=cfg.get('title', cfg.lib_name), repo_url=cfg.get('git_url', ''),
                                  mathjax=bool(mj), prev=prev_page, next=next_page)}
                body, _ = exporter.from_notebook_node(p['nb'], resources=res)
                write_atomic(stage/p['file'], postprocess(body, link_map, site_url))
            old = None
            if out.exists():
                old = out.parent/f'.{out.name}-old-{os.getpid()}'
                os.replace(out, old)
            os.replace(stage, out)
            if old: shutil.rmtree(old, ignore_errors=True)
        except BaseException:
            shutil.rmtree(stage, ignore_errors=True)
            raise
    print(f'built {len(pages)} pages into {out} (nbdev processing {t1 - t0:.0f}s, rendering {time.time() - t1:.0f}s; '
          f'MathJax {"shipped" if mj else "not installed: math shown as TeX"})')


def _default_html(src: Path) -> str:
    from nbdev.doclinks import _nbpath2html
    return _nbpath2html(Path(src.name)).name


# ---------------------------------------------------------------- README
def readme_text(cfg, nbs: Path, files_dir: str = 'index_files') -> tuple[str, dict[str, bytes]]:
    "README.md text and its figure files from nbs/<readme_nb>, by nbdev processing + markdown export."
    import nbformat
    from nbconvert import MarkdownExporter
    src = nbs/cfg.get('readme_nb', 'index.ipynb')
    if not src.exists(): raise SystemExit(f'{src} is missing: it is the README source')
    with tempfile.TemporaryDirectory(prefix='_proc-') as d:
        nb = nbformat.read(process_notebooks([src], Path(d), 1)[src], as_version=4)
    fm = prepare(nb, for_readme=True)
    exp = MarkdownExporter(exclude_input_prompt=True, exclude_output_prompt=True)
    body, res = exp.from_notebook_node(nb, resources={'output_files_dir': files_dir})
    head = f"# {fm.get('title', cfg.get('title', cfg.lib_name))}\n\n"
    if fm.get('description'): head += f"> {fm['description']}\n\n"
    body = re.sub(r'^[ \t]+$', '', body, flags=re.MULTILINE)  # nbconvert pads figure lines with spaces
    text = head + re.sub(r'\n{3,}', '\n\n', body).strip() + '\n'
    site_url = f"{cfg.get('doc_host', '')}{cfg.get('doc_baseurl', '')}".rstrip('/')
    def _to_site(m):  # a notebook or a page of the site, linked relatively: its address on the published site
        target = m.group(1)
        page = _default_html(Path(target)) if target.endswith('.ipynb') else target
        return f"]({site_url}/{page}{m.group(2) or ''})"
    text = re.sub(r'\]\((?![a-z][a-z0-9+.-]*:|/)([^)\s#]+\.(?:ipynb|html))(#[^)\s]*)?\)', _to_site, text)
    return text, dict(res.get('outputs', {}))


def write_readme(cfg, nbs: Path, dest: Path):
    "Write README.md (and its figures next to it) atomically."
    text, files = readme_text(cfg, nbs)
    for name, data in files.items(): write_atomic(dest.parent/name, data)
    if write_if_changed(dest, text): print(f'wrote {dest}')


# ---------------------------------------------------------------- entry point
def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--readme-only', action='store_true', help='only regenerate README.md from nbs/index.ipynb')
    ap.add_argument('--offline', action='store_true', help='use the offline renderer even when quarto is on PATH')
    ap.add_argument('--out', type=Path, help='site folder (default: doc_path from settings.ini, _docs)')
    ap.add_argument('--readme', type=Path, help='README path to write (default: README.md at the repo root)')
    ap.add_argument('--nbs', type=Path, help='notebook folder (default: nbs_path from settings.ini)')
    ap.add_argument('--strict', action='store_true',
                    help="run cells that mix imports with other code in full, as nbdev_docs does (default: only their imports)")
    ap.add_argument('--no-readme', action='store_true', help='build the site only, leave README.md alone')
    ap.add_argument('--no-sync', action='store_true', help='leave nbs/sidebar.yml and nbs/nbdev.yml untouched')
    ap.add_argument('-j', '--workers', type=int, default=min(2, os.cpu_count() or 1), help='processing workers')
    args = ap.parse_args(argv)
    os.chdir(ROOT)  # nbdev reads settings.ini from the working directory
    from nbdev.config import get_config
    cfg = get_config()
    nbs = (args.nbs or cfg.nbs_path).resolve()
    readme = (args.readme or cfg.config_path/'README.md').resolve()
    if args.readme_only: return write_readme(cfg, nbs, readme)
    quarto = shutil.which('quarto')
    if quarto and not args.offline and args.out is None and args.nbs is None:
        sync_quarto_config(cfg, nbs, [p.name for p in find_notebooks(nbs)])
        nbdev_docs = Path(sys.executable).parent/'nbdev_docs'
        subprocess.run([str(nbdev_docs) if nbdev_docs.exists() else 'nbdev_docs'], check=True)
    else:
        build_site(cfg, nbs, args.out or cfg.doc_path, args.workers, sync=not args.no_sync, strict=args.strict)
    if args.no_readme: return
    if (nbs/cfg.get('readme_nb', 'index.ipynb')).exists(): write_readme(cfg, nbs, readme)
    else: print(f"no {cfg.get('readme_nb', 'index.ipynb')} in {nbs}: README.md left as it is")


if __name__ == '__main__':
    main()
