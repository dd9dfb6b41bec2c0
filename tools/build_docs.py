#!/usr/bin/env python
"""Build the documentation site (`_docs/`) and README.md from the notebooks in nbs/.

With Quarto on PATH this runs nbdev's own `nbdev_docs` (the published site). Without it (this machine, CI), nbdev's
`proc_nbs` (what `nbdev_proc_nbs` runs: show_doc sections, directives, hidden cells removed) processes the notebooks,
and nbconvert renders each processed notebook with `tools/docs_site/sd_page.html.j2`: one page per notebook, named as
nbdev tells Quarto (`output-file`), the sidebar and its order from `nbs/sidebar.yml` (the file Quarto reads, kept by
hand as nbdev's `custom_sidebar` asks), previous/next links, a table of contents, and math typeset by a local MathJax.
README.md is always written by a markdown export of the processed `nbs/index.ipynb`, the same on every machine.
"""
import argparse, html, os, re, shutil, subprocess, sys, tempfile, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ASSETS = Path(__file__).resolve().parent/'docs_site'
ASSET_EXTS = {'.png', '.jpg', '.jpeg', '.gif', '.svg', '.webp', '.css', '.js', '.pdf'}
_re_directive = re.compile(r'^\s*#\|\s*([\w-]+)\s*(?::\s*(.*?))?\s*$')
_re_attr_link = re.compile(r'\[([^\]]*)\]\(([^)\s]+)\)\{([^}]*)\}')
_re_attr = re.compile(r'([\w-]+)=(?:"([^"]*)"|(\S+))')
if str(ROOT) not in sys.path: sys.path.insert(0, str(ROOT))   # the checkout's library, installed or not
from smalldiffusion.checkpoint import atomic_write              # noqa: E402


def write(path: Path, data) -> bool:
    "Atomically write `data` (str or bytes) to `path` unless it already holds it; True when written."
    data = data.encode('utf-8') if isinstance(data, str) else data
    if Path(path).exists() and Path(path).read_bytes() == data: return False
    atomic_write(path, lambda tmp: Path(tmp).write_bytes(data))
    return True


def find_notebooks(nbs: Path) -> list:
    "The notebooks the site is built from: nbs/*.ipynb, skipping names starting with `_` or `.`."
    return sorted(p for p in Path(nbs).glob('*.ipynb') if not p.name.startswith(('_', '.')))


def sidebar_groups(nbs: Path) -> list:
    "nbs/sidebar.yml as [(section title or None, notebook names)]; a ValueError names notebooks it leaves out."
    import yaml
    groups = []
    for item in yaml.safe_load((Path(nbs)/'sidebar.yml').read_text())['website']['sidebar']['contents']:
        if isinstance(item, dict): groups.append((item['section'], list(item['contents'])))
        elif groups and groups[-1][0] is None: groups[-1][1].append(item)
        else: groups.append((None, [item]))
    listed = [n for _, g in groups for n in g]
    missing = [p.name for p in find_notebooks(nbs) if p.name not in listed]
    if missing: raise ValueError(f'{Path(nbs)/"sidebar.yml"} leaves out {missing}: add each where a reader should meet it')
    return groups


def tutorial_order(nbs: Path) -> tuple:
    "(the tutorial's pages, Advanced included, in reading order; the Reference pages), from nbs/sidebar.yml."
    groups = sidebar_groups(nbs)
    return [n for t, g in groups if t != 'Reference' for n in g], [n for t, g in groups if t == 'Reference' for n in g]


def page_name(nb: str) -> str:
    "The page nbdev asks Quarto to write for a notebook (`00_schedule.ipynb` -> `schedule.html`)."
    from nbdev.doclinks import _nbpath2html   # nbdev has no public name for this mapping
    return _nbpath2html(Path(nb)).name


def attr_links(md: str, keep: bool=True) -> str:
    "Pandoc links with attributes (show_doc's `[source](url){target=\"_blank\"}`) as HTML links, or plain ones."
    def a(m):
        text, url, spec = m.groups()
        if not keep: return f'[{text}]({url})'
        attrs = ''.join(f' {k}="{html.escape(v1 or v2)}"' for k, v1, v2 in _re_attr.findall(spec))
        return f'<a href="{html.escape(url)}"{attrs}>{text}</a>'
    return _re_attr_link.sub(a, md)


def prepare(nb, for_readme: bool=False) -> dict:
    "Apply the Quarto cell options nbdev leaves in a processed notebook (include, echo, output, code-fold); its frontmatter."
    import yaml
    fm, cells = {}, []
    for i, cell in enumerate(nb.cells):
        src = cell.get('source', '')
        if cell.cell_type == 'raw' and i == 0 and (m := re.match(r'^\s*---\s*\n(.*?)\n---\s*$', src, re.DOTALL)):
            fm = yaml.safe_load(m.group(1)) or {}; continue
        if cell.cell_type == 'markdown': cell.source = attr_links(src, keep=not for_readme)
        if cell.cell_type == 'code':
            lines, opts = src.splitlines(), {}
            while lines and (m := _re_directive.match(lines[0])):
                opts[m.group(1)] = yaml.safe_load(m.group(2)) if m.group(2) else True; lines.pop(0)
            cell.source = '\n'.join(lines)
            if opts.get('include') is False: continue
            if opts.get('echo') is False: cell.metadata.setdefault('transient', {})['remove_source'] = True
            if opts.get('output') is False: cell.outputs = []
            if opts.get('code-fold') not in (None, False):
                cell.metadata['sd_fold'] = {'open': opts['code-fold'] == 'show', 'summary': str(opts.get('code-summary', 'Code'))}
            if not cell.source.strip() and not cell.get('outputs'): continue
            for o in cell.get('outputs', []):
                if (md := o.get('data', {}).get('text/markdown')) is not None:
                    o['data']['text/markdown'] = attr_links(''.join(md), keep=not for_readme)
        cells.append(cell)
    nb.cells = cells
    nb.metadata.pop('widgets', None)  # empty widget state nbdev's show_doc run leaves behind
    return fm


def exporter():
    "nbconvert's HTML exporter with our page template, and math marked as Pandoc marks it (for MathJax)."
    from jinja2 import pass_context
    from nbconvert import HTMLExporter
    from nbconvert.filters.markdown_mistune import IPythonRenderer, MarkdownWithMath

    class MathRenderer(IPythonRenderer):
        def inline_math(self, body): return f'<span class="math inline">\\({self.escape_html(body)}\\)</span>'
        def block_math(self, body): return f'<span class="math display">\\[{self.escape_html(body)}\\]</span>'
        def latex_environment(self, name, body):
            return f'<span class="math display">\\begin{{{name}}}{self.escape_html(body)}\\end{{{name}}}</span>'

    class DocsExporter(HTMLExporter):
        @pass_context
        def markdown2html(self, context, source):
            r = MathRenderer(escape=False, attachments=context.get('cell', {}).get('attachments', {}), embed_images=False,
                             path=context.get('resources', {}).get('metadata', {}).get('path', ''),
                             anchor_link_text=self.anchor_link_text, exclude_anchor_links=self.exclude_anchor_links)
            return MarkdownWithMath(renderer=r).render(source)

    return DocsExporter(template_name='lab', extra_template_paths=[str(ASSETS)], template_file='sd_page.html.j2',
                        exclude_input_prompt=True, exclude_output_prompt=True, anchor_link_text='¶')


def pandoc_id(text: str) -> str:
    "The identifier Pandoc/Quarto gives a heading (what nbdev's doc links point at)."
    s = re.sub(r'\s+', '-', re.sub(r'[^\w\s.-]', '', text.strip().lower()))
    return re.sub(r'^[^a-z]+', '', s) or 'section'


def postprocess(page: str, link_map: dict, site_url: str) -> str:
    "Quarto's heading ids, a table of contents, and local links to the site's own pages."
    import bs4
    soup = bs4.BeautifulSoup(page, 'html.parser')
    seen, renamed, toc = set(), {}, []
    for h in soup.find('main').find_all(['h1', 'h2', 'h3', 'h4', 'h5', 'h6']):
        if 'title' in (h.get('class') or []): continue
        text = ''.join(s for s in h.find_all(string=True) if 'anchor-link' not in (s.parent.get('class') or []))
        new, k = pandoc_id(text), 0
        while new in seen: k += 1; new = f'{pandoc_id(text)}-{k}'
        seen.add(new)
        if h.get('id'): renamed[h['id']] = new
        h['id'] = new
        for a in h.find_all('a', class_='anchor-link'): a['href'] = f'#{new}'
        if h.name in ('h2', 'h3'): toc.append((h.name, new, text.strip()))
    for a in soup.find_all('a', href=True):
        href = a['href']
        if site_url and href.startswith(site_url): href = href[len(site_url):].lstrip('/') or 'index.html'
        target, _, frag = href.partition('#')
        if not re.match(r'^[a-z][a-z0-9+.-]*:', target) and target.endswith('.ipynb'): target = link_map.get(Path(target).name, target)
        a['href'] = target + (f'#{renamed.get(frag, frag) if target == "" else frag}' if frag else '')
    if (nav := soup.find(id='TOC')) is not None and toc:
        title = soup.new_tag('div', attrs={'class': 'toc-title'}); title.string = 'On this page'
        ul = soup.new_tag('ul')
        for level, ident, text in toc:
            li, a = soup.new_tag('li', attrs={'class': f'toc-{level}'}), soup.new_tag('a', href=f'#{ident}')
            a.string = text; li.append(a); ul.append(li)
        nav.append(title); nav.append(ul)
    return str(soup)


def build_site(cfg, nbs: Path, out: Path, n_workers: int):
    "nbdev processing + nbconvert rendering into a staging folder, swapped in for `out` at the end."
    import nbformat, jupyter_server_mathjax
    from nbdev.serve import proc_nbs
    os.environ.setdefault('TQDM_DISABLE', '1')    # cells run for the docs print no progress bars
    os.environ['PYTHONPATH'] = os.pathsep.join([str(ROOT), os.environ.get('PYTHONPATH', '')])
    groups, t0 = sidebar_groups(nbs), time.time()
    proc = proc_nbs(str(nbs), n_workers=n_workers, force=True)   # into _proc/, as nbdev_docs does
    pages = {}
    for name in [n for _, g in groups for n in g]:
        nb = nbformat.read(proc/name, as_version=4)
        fm = prepare(nb)
        pages[name] = dict(nb=nb, file=fm.get('output-file') or page_name(name), title=str(fm.get('title', Path(name).stem)),
                           description=str(fm.get('description', '') or ''))
    t1, reading, exp = time.time(), [n for _, g in groups for n in g], exporter()
    inline = lambda t: re.sub(r'`([^`]+)`', r'<code>\1</code>', html.escape(t, quote=False))   # titles are markdown
    site_url = f"{cfg.get('doc_host', '')}{cfg.get('doc_baseurl', '')}".rstrip('/')
    out = Path(out).resolve(); out.parent.mkdir(parents=True, exist_ok=True)
    stage, umask = Path(tempfile.mkdtemp(prefix=f'.{out.name}-', dir=out.parent)), os.umask(0); os.umask(umask)
    try:
        os.chmod(stage, 0o777 & ~umask)   # mkdtemp makes 0700; a published folder is world-readable
        mathjax = Path(jupyter_server_mathjax.__file__).parent/'static'
        shutil.copytree(mathjax, stage/'site_libs'/'mathjax')
        shutil.copy2(ASSETS/'mathjax-config.js', stage/'site_libs')
        shutil.copy2(ASSETS/'site.css', stage/'site_libs')
        env = exp.environment   # JupyterLab's notebook CSS, once for every page
        write(stage/'site_libs'/'jupyterlab.css', '\n'.join(env.loader.get_source(env, f'static/{n}')[0] for n in ('index.css', 'theme-light.css')))
        for f in Path(nbs).rglob('*'):   # figures and styles the notebooks link to
            rel = f.relative_to(nbs)
            if f.is_file() and f.suffix.lower() in ASSET_EXTS and not any(p.startswith(('_', '.')) for p in rel.parts):
                (stage/rel).parent.mkdir(parents=True, exist_ok=True); shutil.copy2(f, stage/rel)
        for i, (name, p) in enumerate((n, pages[n]) for n in reading):
            entry = lambda n, active=False: dict(title=inline(pages[n]['title']), href=pages[n]['file'], active=active)
            sidebar = [e for t, g in groups for e in ([entry(n, n == name) for n in g] if t is None else
                                                     [dict(section=t, contents=[entry(n, n == name) for n in g])])]
            p['nb'].metadata['title'] = f"{p['title'].replace('`', '')} – {cfg.get('title', cfg.lib_name)}"
            sd = dict(title=inline(p['title']), description=inline(p['description']), sidebar=sidebar, mathjax=True,
                      site_title=cfg.get('title', cfg.lib_name), repo_url=cfg.get('git_url', ''),
                      prev=entry(reading[i - 1]) if i else None, next=entry(reading[i + 1]) if i + 1 < len(reading) else None)
            body, _ = exp.from_notebook_node(p['nb'], resources={'metadata': {'name': p['title'], 'path': str(nbs)}, 'sd': sd})
            write(stage/p['file'], postprocess(body, {n: q['file'] for n, q in pages.items()}, site_url))
        old = out.parent/f'.{out.name}-old-{os.getpid()}'
        if out.exists(): os.replace(out, old)
        os.replace(stage, out)
        shutil.rmtree(old, ignore_errors=True)
    finally: shutil.rmtree(stage, ignore_errors=True)
    print(f'built {len(pages)} pages into {out} (nbdev processing {t1 - t0:.0f}s, rendering {time.time() - t1:.0f}s)')


def write_readme(cfg, nbs: Path, dest: Path, files_dir: str='index_files'):
    "README.md (and the figures it shows, beside it) from the processed nbs/<readme_nb>, with links to the site."
    import nbformat, nbdev.serve_drv
    from nbconvert import MarkdownExporter
    from nbdev.processors import FilterDefaults
    src = Path(nbs)/cfg.get('readme_nb', 'index.ipynb')
    with tempfile.TemporaryDirectory() as d:
        nbdev.serve_drv.main((src, Path(d)/src.name, FilterDefaults))   # one notebook, as proc_nbs processes each
        nb = nbformat.read(Path(d)/src.name, as_version=4)
    fm = prepare(nb, for_readme=True)
    body, res = MarkdownExporter(exclude_input_prompt=True, exclude_output_prompt=True).from_notebook_node(
        nb, resources={'output_files_dir': files_dir})
    body = re.sub(r'\n{3,}', '\n\n', re.sub(r'^[ \t]+$', '', body, flags=re.MULTILINE)).strip()   # nbconvert pads figure lines
    text = f"# {fm.get('title', cfg.get('title', cfg.lib_name))}\n\n" + (f"> {fm['description']}\n\n" if fm.get('description') else '') + body + '\n'
    site_url = f"{cfg.get('doc_host', '')}{cfg.get('doc_baseurl', '')}".rstrip('/')
    to_site = lambda m: f"]({site_url}/{page_name(m.group(1)) if m.group(1).endswith('.ipynb') else m.group(1)}{m.group(2) or ''})"
    text = re.sub(r'\]\((?![a-z][a-z0-9+.-]*:|/)([^)\s#]+\.(?:ipynb|html))(#[^)\s]*)?\)', to_site, text)
    for name, data in res.get('outputs', {}).items(): write(dest.parent/name, data)
    if write(dest, text): print(f'wrote {dest}')


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--readme-only', action='store_true', help='only regenerate README.md from nbs/index.ipynb')
    ap.add_argument('--offline', action='store_true', help='use the offline renderer even when quarto is on PATH')
    ap.add_argument('--out', type=Path, help='site folder (default: doc_path from settings.ini, _docs)')
    ap.add_argument('--readme', type=Path, help='README path to write (default: README.md at the repo root)')
    ap.add_argument('--nbs', type=Path, help='notebook folder (default: nbs_path from settings.ini)')
    ap.add_argument('--no-readme', action='store_true', help='build the site only, leave README.md alone')
    ap.add_argument('-j', '--workers', type=int, default=min(2, os.cpu_count() or 1), help='processing workers')
    args = ap.parse_args(argv)
    os.chdir(ROOT)  # nbdev reads settings.ini from the working directory
    from nbdev.config import get_config
    cfg = get_config()
    nbs, readme = (args.nbs or cfg.nbs_path).resolve(), (args.readme or cfg.config_path/'README.md').resolve()
    if not args.readme_only:
        if shutil.which('quarto') and not (args.offline or args.out or args.nbs):
            from nbdev.quarto import refresh_quarto_yml
            refresh_quarto_yml()   # nbs/nbdev.yml from settings.ini; nbs/sidebar.yml is ours (custom_sidebar)
            subprocess.run([str(Path(sys.executable).parent/'nbdev_docs')], check=True)
        else: build_site(cfg, nbs, args.out or cfg.doc_path, args.workers)
    if not args.no_readme: write_readme(cfg, nbs, readme)


if __name__ == '__main__':
    main()
