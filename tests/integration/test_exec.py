"""exec* under the shim: the list forms behave as glibc's (no argument limit
of our own), and what was queued before the exec is exported, not lost with
the old image."""
import subprocess

from conftest import run, shim_env

PROG = r"""
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#define A10 "x","x","x","x","x","x","x","x","x","x"
#define A100 A10,A10,A10,A10,A10,A10,A10,A10,A10,A10
static size_t sink(char *p, size_t s, size_t n, void *u) { return s * n; }
int main(int argc, char **argv) {
    if (argc > 1 && !strcmp(argv[1], "child")) {
        printf("argc=%d last=%s env=%s\n", argc, argv[argc - 1],
               getenv("EXEC_TEST") ? getenv("EXEC_TEST") : "-");
        return 0;
    }
    char *envp[] = {"EXEC_TEST=from-execle", NULL};
    if (argc > 2) { /* one request, then replace the process */
        CURL *h = curl_easy_init();
        curl_easy_setopt(h, CURLOPT_URL, argv[2]);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sink);
        curl_easy_perform(h);
    }
    if (!strcmp(argv[1], "execl"))   /* 1500 arguments: more than any fixed table */
        execl("/proc/self/exe", "me", "child", A100,A100,A100,A100,A100,A100,A100,A100,A100,
              A100,A100,A100,A100,A100,A100, "end", (char *)NULL);
    if (!strcmp(argv[1], "execlp"))
        execlp(argv[0], "me", "child", "a", "end", (char *)NULL);
    if (!strcmp(argv[1], "execle"))
        execle("/proc/self/exe", "me", "child", "end", (char *)NULL, envp);
    perror("exec");
    return 1;
}
"""


def build(tmp_path):
    src = tmp_path / "ex.c"
    src.write_text(PROG)
    exe = tmp_path / "ex"
    subprocess.run(["gcc", "-o", str(exe), str(src), "-lcurl"], check=True)
    return str(exe)


def test_exec_list_forms_match_glibc(tmp_path):
    exe = build(tmp_path)
    expected = {"execl": b"argc=1503 last=end env=-\n", "execlp": b"argc=4 last=end env=-\n",
                "execle": b"argc=3 last=end env=from-execle\n"}
    for form, want in expected.items():
        bare = subprocess.run([exe, form], capture_output=True)
        shim = run([exe, form], shim_env(None, OTEL_TRACES_EXPORTER="none"))
        assert bare.stdout == want and bare.returncode == 0
        assert (shim.returncode, shim.stdout) == (0, want), (form, shim.stderr)


def test_spans_queued_before_exec_are_exported(collector, http_server, tmp_path):
    exe = build(tmp_path)
    # a long schedule delay: only the flush before exec can send the span in time
    r = run([exe, "execl", http_server.url], shim_env(collector, OTEL_BSP_SCHEDULE_DELAY="60000"))
    assert r.returncode == 0 and r.stdout.startswith(b"argc=1503"), r.stderr
    spans = collector.wait_for(1, timeout=5)
    assert len(spans) == 1 and spans[0]["attributes"]["url.full"] == http_server.url + "/"
