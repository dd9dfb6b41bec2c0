"""The documentation site in a real browser: built offline by tools/build_docs.py (what `make docs` runs without
Quarto), served on 127.0.0.1, opened in Debian's chromium through Playwright (`make browser` installs it as root).
Without chromium the browser checks skip, loudly (tests/conftest.py sums them up at the end); in CI (CI=true) they
fail instead."""
import functools, http.server, os, re, subprocess, sys, threading, time, urllib.error, urllib.parse, urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NBS = Path(os.environ.get('DOCS_NBS', ROOT/'nbs')).resolve()  # another notebook folder, for trying the builder
CHROMIUM = os.environ.get('CHROMIUM', '/usr/bin/chromium')
ARTIFACTS = ROOT/'artifacts'
FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
         '--disable-background-networking', '--disable-component-update', '--disable-sync']
FIGURE_NBS = re.compile(r'^0[0-3]')  # pages 00-03 of the tutorial must show figures

sys.path.insert(0, str(ROOT/'tools'))
import build_docs  # noqa: E402


def expected_page(nb: Path) -> str:
    "The page nbdev asks Quarto to write for a notebook (the `output-file` it sets in the frontmatter)."
    from nbdev.doclinks import _nbpath2html  # nbdev's rule has no public name
    return _nbpath2html(Path(Path(nb).name)).name


@pytest.fixture(scope='module')
def notebooks():
    nbs = build_docs.find_notebooks(NBS)
    if not nbs: pytest.fail(f'no notebooks in {NBS}')
    return nbs


@pytest.fixture(scope='module')
def site(tmp_path_factory, notebooks):
    "Build the site into a temporary folder (nothing in the checkout is written)."
    tmp = tmp_path_factory.mktemp('docs')
    out = tmp/'_docs'
    cmd = [sys.executable, str(ROOT/'tools'/'build_docs.py'), '--offline', '--no-readme',
           '--out', str(out), '--nbs', str(NBS)]
    t = time.time()
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, f'build_docs failed:\n{r.stdout}\n{r.stderr}'
    print(f'site built in {time.time() - t:.1f}s')
    return out


@pytest.fixture(scope='module')
def server(site):
    "Serve the built site on 127.0.0.1 from a thread."
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args): pass
    class Server(http.server.ThreadingHTTPServer):
        def handle_error(self, request, client_address):  # the browser dropping a connection is no error
            if not isinstance(sys.exc_info()[1], ConnectionError): super().handle_error(request, client_address)
    httpd = Server(('127.0.0.1', 0), functools.partial(Quiet, directory=str(site)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f'http://127.0.0.1:{httpd.server_address[1]}/'
    httpd.shutdown(); httpd.server_close()


# Without chromium (or playwright) the browser checks skip with this tag, which tests/conftest.py repeats loudly at the
# end of the session; in CI (CI=true, as GitHub Actions sets it) they are required and fail instead.
BROWSER_SKIP = 'BROWSER CHECK SKIPPED'
HOW_TO_RUN = ("to run it, install Debian's chromium as root (apt-get install chromium, or `make browser` as root) "
              'or set CHROMIUM=/path/to/chromium')
IN_CI = os.environ.get('CI', '').strip().lower() not in ('', '0', 'false', 'no')


def no_browser(why: str):
    "Skip a browser check, loudly; in CI fail it instead."
    if IN_CI: pytest.fail(f'{why}: CI requires the browser checks (tools/ensure_chromium.sh installs chromium as root)')
    pytest.skip(f'{BROWSER_SKIP}: {why}; {HOW_TO_RUN}')


@pytest.fixture(scope='module')
def browser():
    if not os.path.exists(CHROMIUM): no_browser(f'no chromium at {CHROMIUM}')
    try: from playwright.sync_api import sync_playwright
    except ImportError: no_browser('playwright is not installed (pip install playwright, or make dev)')
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        yield b
        b.close()


@pytest.fixture(scope='module')
def crawl(browser, server, site):
    "Visit every page of the site once; record errors, figures, links and element ids."
    page = browser.new_page(viewport={'width': 1280, 'height': 900})
    origin = server.rstrip('/')
    state = {'errors': [], 'remote': []}
    page.on('console', lambda m: m.type == 'error' and state['errors'].append(f'{page.url}: console: {m.text}'))
    page.on('pageerror', lambda e: state['errors'].append(f'{page.url}: {e}'))
    page.on('requestfailed', lambda r: state['errors'].append(f'{page.url}: failed to load {r.url}'))
    def on_request(r):
        if not r.url.startswith((origin, 'data:', 'about:')): state['remote'].append(f'{page.url}: {r.url}')
    page.on('request', on_request)
    pages = {}
    for html in sorted(p.name for p in site.glob('*.html')):
        resp = page.goto(server + html, wait_until='load')
        page.wait_for_load_state('networkidle')
        pages[html] = page.evaluate("""() => ({
            status: 0,
            title: (document.querySelector('h1.title') || {}).textContent || '',
            figures: Array.from(document.querySelectorAll('main img'))
                          .filter(i => i.complete && i.naturalWidth > 0).length,
            images: Array.from(document.querySelectorAll('main img')).length,
            widths: Array.from(document.querySelectorAll('main img')).filter(i => i.complete && i.naturalWidth > 0)
                         .map(i => i.getBoundingClientRect().width),
            links: Array.from(document.querySelectorAll('a[href]')).map(a => a.href)
                   .concat(Array.from(document.querySelectorAll('img[src], script[src]')).map(e => e.src))
                   .concat(Array.from(document.querySelectorAll('link[href]')).map(e => e.href)),
            ids: Array.from(document.querySelectorAll('[id]')).map(e => e.id),
            sidebar: Array.from(document.querySelectorAll('.sd-sidebar a')).map(a => a.getAttribute('href')),
            math: Array.from(document.querySelectorAll('.math')).length,
            typeset: Array.from(document.querySelectorAll('.MathJax, .MathJax_Display, .MathJax_CHTML')).length,
            text: (document.querySelector('main') || document.body).innerText,
            code: Array.from(document.querySelectorAll('main pre')).filter(e => e.offsetWidth > 0)
                       .map(e => e.innerText).join('\\n'),
            prev: Array.from(document.querySelectorAll('a[rel=prev]')).map(a => a.getAttribute('href')),
            next: Array.from(document.querySelectorAll('a[rel=next]')).map(a => a.getAttribute('href')),
        })""")
        pages[html]['status'] = resp.status
    page.close()
    return dict(pages=pages, origin=origin, **state)


def test_every_notebook_has_a_page(notebooks, crawl):
    for nb in notebooks:
        html = expected_page(nb)
        assert html in crawl['pages'], f'{nb.name} has no page {html}'
        info = crawl['pages'][html]
        assert info['status'] == 200 and info['title'].strip(), f'{html}: status {info["status"]}, no title'
    assert 'index.html' in crawl['pages'], 'no home page'


def test_sidebar_follows_the_tutorial(notebooks, crawl):
    want = [expected_page(Path(n)) for n in build_docs.sidebar(NBS)[1]]
    for html, info in crawl['pages'].items():
        assert info['sidebar'] == want, f'{html}: sidebar {info["sidebar"]} != {want}'


def test_quarto_sidebar_lists_every_notebook(notebooks):
    "nbs/sidebar.yml (Quarto's sidebar, kept by hand) lists every notebook once; the builder refuses one it leaves out."
    order = build_docs.sidebar(NBS)[1]
    assert sorted(order) == sorted(nb.name for nb in notebooks), f'sidebar {order}'


def test_builder_names_a_notebook_missing_from_the_sidebar(tmp_path):
    (tmp_path/'sidebar.yml').write_text('website:\n  sidebar:\n    contents:\n      - index.ipynb\n')
    for n in ('index.ipynb', '00_new.ipynb'): (tmp_path/n).write_text('{}')
    with pytest.raises(ValueError, match=r"leaves out \['00_new.ipynb'\]"): build_docs.sidebar(tmp_path)


def test_tutorial_pages_show_figures(notebooks, crawl):
    figure_pages = [expected_page(nb) for nb in notebooks if FIGURE_NBS.match(nb.name)]
    assert figure_pages, 'no notebooks 00-03'
    for html in figure_pages:
        info = crawl['pages'][html]
        assert info['figures'] >= 1, f'{html}: {info["images"]} images, none loaded (naturalWidth > 0)'


def test_no_broken_local_links(crawl):
    origin, pages, broken = crawl['origin'], crawl['pages'], []
    checked = {}
    for html, info in pages.items():
        for url in info['links']:
            if not url.startswith(origin): continue
            path, _, frag = url[len(origin):].partition('#')
            frag = urllib.parse.unquote(frag)
            path = urllib.parse.unquote(path.split('?')[0]).lstrip('/') or 'index.html'
            if path not in checked:
                try: checked[path] = urllib.request.urlopen(f'{origin}/{path}', timeout=10).status
                except urllib.error.HTTPError as e: checked[path] = e.code
            if checked[path] != 200: broken.append(f'{html} -> {path} ({checked[path]})')
            elif frag and path in pages and frag not in pages[path]['ids']:
                broken.append(f'{html} -> {path}#{frag} (no such id)')
    assert not broken, 'broken links:\n' + '\n'.join(sorted(set(broken)))


def test_no_console_errors_nor_remote_requests(crawl):
    assert not crawl['errors'], '\n'.join(crawl['errors'])
    assert not crawl['remote'], 'pages load remote resources:\n' + '\n'.join(crawl['remote'])


def test_math_typeset_or_readable(browser, server, site, crawl):
    "MathJax (shipped under site_libs/) typesets math; when its script cannot load the TeX stays on the page."
    with_math = [h for h, info in crawl['pages'].items() if info['math']]
    if not with_math: pytest.skip('no page has math')
    html = with_math[0]
    if (site/'site_libs'/'mathjax'/'MathJax.js').exists():
        page = browser.new_page()
        page.goto(server + html, wait_until='load')
        page.wait_for_selector('.math .MathJax, .math .MathJax_Display, .math .MathJax_CHTML', timeout=20000)
        page.close()
    page = browser.new_page()
    page.route('**/site_libs/mathjax/**', lambda route: route.abort())
    page.goto(server + html, wait_until='load')
    tex = page.eval_on_selector_all('.math', 'els => els.filter(e => e.offsetWidth > 0).map(e => e.textContent)')
    page.close()
    assert tex and all(t.startswith(('\\(', '\\[', '\\begin')) for t in tex), tex[:3]


def test_screenshots(browser, server, notebooks, crawl):
    "Screenshots of the home, training, sampling and conditional pages, kept under artifacts/ for CI to upload."
    ARTIFACTS.mkdir(exist_ok=True)
    shots = {'index.html': 'docs-home.png'}
    names = {nb.name for nb in notebooks}
    for nb, html in [('01_training', 'training'), ('02_sampling', 'sampling'), ('06_conditional', 'conditional')]:
        if f'{nb}.ipynb' in names: shots[f'{html}.html'] = f'docs-{html}.png'
    page = browser.new_page(viewport={'width': 1280, 'height': 900})
    for html, png in shots.items():
        page.goto(server + html, wait_until='load')
        page.wait_for_load_state('networkidle')
        page.screenshot(path=str(ARTIFACTS/png), full_page=True)
        assert (ARTIFACTS/png).stat().st_size > 10_000, f'{png} looks empty'
    page.close()


def test_home_page_opens_with_a_figure(crawl):
    info = crawl['pages']['index.html']
    assert info['figures'] >= 1, f'index.html: {info["images"]} images, none loaded'


# the code a learner reads next to its math: (page, notebook, a line of the source that must be visible)
CORE_SOURCE = [('training.html', '01_training.ipynb', 'def training_loop('),
               ('training.html', '01_training.ipynb', 'get_loss('),
               ('sampling.html', '02_sampling.ipynb', 'def samples('),
               ('unet.html', '03_unet.ipynb', 'class Unet('),
               ('unet.html', '03_unet.ipynb', 'hs = self.downs(self.conv_in(x), emb)'),   # Unet.forward
               ('unet.html', '03_unet.ipynb', 'class DownLevel('),
               ('unet.html', '03_unet.ipynb', 'class UpLevel(')]


def test_core_source_is_on_its_page(notebooks, crawl):
    names = {nb.name for nb in notebooks}
    for html, nb, line in CORE_SOURCE:
        if nb not in names: continue
        assert line in crawl['pages'][html]['code'], f'{html}: no visible code containing {line!r}'


PROGRESS_BAR = re.compile(r'\d+%\|')  # tqdm's "  0%|          | 0/600"


def test_no_progress_bars_nor_placeholder_docstrings(crawl):
    bad = []
    for html, info in crawl['pages'].items():
        if bar := PROGRESS_BAR.search(info['text']): bad.append(f'{html}: progress-bar line {bar.group()!r}')
        if 'Call self as a function.' in info['text']: bad.append(f'{html}: "Call self as a function." docstring')
    assert not bad, '\n'.join(bad)


def test_previous_and_next_links(notebooks, crawl):
    "Every page links to the pages before and after it in the sidebar's order."
    order = [expected_page(Path(n)) for n in build_docs.sidebar(NBS)[1]]
    for i, html in enumerate(order):
        info = crawl['pages'][html]
        assert info['prev'] == ([order[i - 1]] if i else []), f'{html}: previous {info["prev"]}'
        assert info['next'] == ([order[i + 1]] if i + 1 < len(order) else []), f'{html}: next {info["next"]}'


def test_unet_page_draws_the_network(notebooks, crawl):
    "The U-Net page shows its diagrams (the page's small U-Net and the FashionMNIST configuration), drawn large."
    if '03_unet.ipynb' not in {nb.name for nb in notebooks}: pytest.skip('no 03_unet')
    wide = [w for w in crawl['pages']['unet.html']['widths'] if w >= 600]
    widths = crawl['pages']['unet.html']['widths']
    assert len(wide) >= 2, f'unet.html: images {widths} px wide, want two diagrams >= 600 px'


def test_digit_grids_are_drawn_large(notebooks, crawl):
    "8x8 digits are judged by eye: the grids of real and generated digits on the image-training page are >= 500 px."
    if '03b_image_training.ipynb' not in {nb.name for nb in notebooks}: pytest.skip('no 03b_image_training')
    wide = [w for w in crawl['pages']['image_training.html']['widths'] if w >= 500]
    assert len(wide) >= 2, f"image_training.html: images {crawl['pages']['image_training.html']['widths']} px wide"


def test_sidebar_order_of_the_tutorial(notebooks, crawl):
    """Issue 23's order: Noise schedules before Training (it fixes the σ convention every later page uses); guidance is
    taught after Sampling, on Conditional generation, not on Models."""
    order = [expected_page(Path(n)) for n in build_docs.sidebar(NBS)[1]]
    pos = {html: i for i, html in enumerate(order)}
    assert pos['schedule.html'] < pos['training.html'], order
    assert pos['betas.html'] < pos['training.html'], order
    assert pos['sampling.html'] < pos['conditional.html'], order
    for html, info in crawl['pages'].items():   # every page's sidebar, as the browser shows it
        links = [h for h in info['sidebar'] if h in pos]
        assert links.index('schedule.html') < links.index('training.html') < links.index('sampling.html'), html
    model, cond = crawl['pages']['model.html']['text'], crawl['pages']['conditional.html']['text']
    assert 'Ho & Salimans' not in model and 'Ho & Salimans' in cond, 'classifier-free guidance is taught on Models'


def test_contributing_page_has_content(notebooks, crawl):
    "nbdev takes a notebook's first markdown cell as title and description: content left in it vanishes from the page."
    if '92_contributing.ipynb' not in {nb.name for nb in notebooks}: pytest.skip('no 92_contributing')
    info = crawl['pages']['contributing.html']
    assert len(info['text']) > 2000 and 'make export' in info['text'], info['text'][:300]


def test_no_warnings_nor_temporary_paths_on_any_page(crawl):
    "A raw warning (with the temporary file of the kernel that printed it) is noise to a reader: fix it at its source."
    bad = [f'{html}: {m.group()!r}' for html, info in crawl['pages'].items()
           for m in re.finditer(r'.{0,60}(UserWarning|/tmp/).{0,60}', info['text'])]
    assert not bad, '\n'.join(bad)


def test_no_raw_markdown_links_on_any_page(crawl):
    """A backticked name that nbdev links is already a link: written inside [..](..), or in a signature's comment, its
    markdown shows as raw text ("[`name`](page.html)")."""
    bad = [f'{html}: {m.group()!r}' for html, info in crawl['pages'].items()
           for m in re.finditer(r'.{0,40}\]\((https?://|[\w-]+\.html)[^)\s]*\).{0,20}', info['text'])]
    assert not bad, '\n'.join(bad)


def home_figure():
    "Run the home page's figure cell (and its imports) as the notebook does, from nbs/; return the figure."
    import json, matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    cells = json.loads((NBS/'index.ipynb').read_text())['cells']
    src = [''.join(c['source']) for c in cells if c['cell_type'] == 'code']
    fig_src = next(s for s in src if 'IdealDenoiser(' in s and 'plt.figure' in s)
    imports = next(s for s in src if 'matplotlib.pyplot as plt' in s and 'IdealDenoiser' in s and s is not fig_src)
    cwd, ns = os.getcwd(), {}
    try:
        os.chdir(NBS); plt.close('all')
        exec(imports, ns); exec(fig_src, ns)
    finally: os.chdir(cwd)
    return plt.gcf()


def test_home_figure_panels_share_axes_with_ticks():
    "The Swissroll panels of the home figure share their x and y axes (σ = 6.8 must not look like σ = 0.3), with ticks."
    fig = home_figure()
    panels = [ax for ax in fig.axes if ax.collections]   # the scatter plots; the digits are an image
    assert len(panels) >= 3, f'{len(panels)} scatter panels'
    first = panels[0]
    for ax in panels[1:]:
        shared = first.get_shared_x_axes().joined(first, ax) and first.get_shared_y_axes().joined(first, ax)
        assert shared, f'{ax.get_title()}: axes not shared with {first.get_title()}'
        assert ax.get_xlim() == first.get_xlim() and ax.get_ylim() == first.get_ylim(), ax.get_title()
    for ax in panels: assert len(ax.get_xticks()) >= 2 and len(ax.get_yticks()) >= 2, f'{ax.get_title()}: no ticks'
