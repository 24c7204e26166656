// The care workers' search page: fills the form from /v1/vocabulary, asks /v1/policies/search, lists results.
const $ = (id) => document.getElementById(id);
const text = (tag, value, cls) => { const e = document.createElement(tag); e.textContent = value; if (cls) e.className = cls; return e; };
const TYPE = { "복지서비스": "복지서비스", "공고": "공고", "공지": "공지" };

async function loadVocabulary() {
  const vocab = await (await fetch("/v1/vocabulary")).json();
  for (const d of vocab.districts) { const o = text("option", d.name); o.value = d.code; $("district").append(o); }
  for (const g of vocab.groups) {
    const label = document.createElement("label");
    const box = document.createElement("input"); box.type = "checkbox"; box.value = g.code; box.name = "groups";
    label.append(box, document.createTextNode(g.label)); $("groups").append(label);
  }
  const health = await fetch("/healthz");
  $("version").textContent = health.ok ? `색인 ${(await health.json()).index_version}` : "색인이 아직 없습니다";
}

function render(data) {
  $("results").replaceChildren();
  $("status").textContent = `받을 수 있는 정책 ${data.eligible_policies}건 중 ${data.results.length}건` +
    (data.excluded_unverified ? ` (자격 정보가 불분명해 제외 ${data.excluded_unverified}건)` : "");
  for (const hit of data.results) {
    const li = document.createElement("li");
    li.dataset.policyId = hit.policy.policy_id;
    const title = document.createElement("h3");
    if (hit.policy.source_url) { const a = text("a", hit.policy.title); a.href = hit.policy.source_url; a.rel = "noopener noreferrer"; title.append(a); }
    else title.textContent = hit.policy.title;
    const e = hit.policy.eligibility;
    const age = e.age_rule === "any" ? "연령 제한 없음" : e.age_rule ? `만 ${e.min_age ?? 0}세 이상${e.max_age != null ? ` ${e.max_age}세 이하` : ""}` : "연령 정보 없음";
    li.append(title,
      text("p", `${TYPE[hit.policy.notice_type] || hit.policy.notice_type || ""} · ${hit.policy.agency || ""} · ${age} · 점수 ${hit.score.toFixed(2)}` +
        (hit.policy.popularity_rank ? ` · 검색 순위 ${hit.policy.popularity_rank}위` : ""), "meta"),
      text("p", hit.passage, "passage"),
      text("p", `일치한 말: ${hit.why.matched_terms.join(", ") || "-"} · 자격: ${Object.values(hit.why.eligibility).join(" / ") || "조건 미지정"}`, "why"));
    $("results").append(li);
  }
}

async function submit(event) {
  event.preventDefault();
  const params = new URLSearchParams({ q: $("q").value.trim(), limit: $("limit").value });
  if ($("age").value) params.set("age", $("age").value);
  if ($("district").value) params.set("district", $("district").value);
  const groups = [...document.querySelectorAll("input[name=groups]:checked")].map((b) => b.value);
  if (groups.length) params.set("groups", groups.join(","));
  $("status").className = ""; $("status").textContent = "검색 중…";
  const response = await fetch(`/v1/policies/search?${params}`);
  const body = await response.json();
  if (!response.ok) {
    $("results").replaceChildren();
    $("status").className = "error";
    const detail = Array.isArray(body.detail) ? body.detail.map((d) => d.msg).join("; ") : body.detail;
    $("status").textContent = `검색할 수 없습니다: ${detail}`;
    return;
  }
  render(body);
}

document.addEventListener("DOMContentLoaded", () => { loadVocabulary(); $("search-form").addEventListener("submit", submit); });
