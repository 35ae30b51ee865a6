// A line diff for template versions: the longest common subsequence of
// their lines, as kept (" "), removed ("-") and added ("+") lines. Texts
// are small (a template is a few dozen lines); past a million line pairs
// the changed middle is shown as removed then added instead.

export function lineDiff(a, b) {
  const x = a.split("\n"), y = b.split("\n");
  let pre = 0;
  while (pre < x.length && pre < y.length && x[pre] === y[pre]) pre++;
  let suf = 0;
  while (suf < x.length - pre && suf < y.length - pre && x[x.length - 1 - suf] === y[y.length - 1 - suf]) suf++;
  const xs = x.slice(pre, x.length - suf), ys = y.slice(pre, y.length - suf);
  const out = x.slice(0, pre).map((text) => ({ op: " ", text }));
  const n = xs.length, m = ys.length;
  if (n * m > 1e6) {
    for (const text of xs) out.push({ op: "-", text });
    for (const text of ys) out.push({ op: "+", text });
  } else {
    // L[i][j]: the common subsequence of xs[i:] and ys[j:], flattened.
    const w = m + 1;
    const L = new Uint32Array((n + 1) * w);
    for (let i = n - 1; i >= 0; i--) {
      for (let j = m - 1; j >= 0; j--) {
        L[i * w + j] = xs[i] === ys[j] ? L[(i + 1) * w + j + 1] + 1 : Math.max(L[(i + 1) * w + j], L[i * w + j + 1]);
      }
    }
    let i = 0, j = 0;
    while (i < n && j < m) {
      if (xs[i] === ys[j]) { out.push({ op: " ", text: xs[i] }); i++; j++; }
      else if (L[(i + 1) * w + j] >= L[i * w + j + 1]) out.push({ op: "-", text: xs[i++] });
      else out.push({ op: "+", text: ys[j++] });
    }
    while (i < n) out.push({ op: "-", text: xs[i++] });
    while (j < m) out.push({ op: "+", text: ys[j++] });
  }
  for (const text of x.slice(x.length - suf)) out.push({ op: " ", text });
  return out;
}
