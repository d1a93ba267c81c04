// The museum dashboard page: reads /museums/{id}/dashboard with a bearer
// token and draws it with Apache ECharts (bundled in /static, no CDN).
// The token comes from the OpenID provider the page signs in with
// (DASHBOARD_OIDC_AUTHORITY, through oidc-client-ts, bundled too), or, in
// development, from a #token=... link or a pasted token; never from the server.
(() => {
  "use strict";

  const I18N = {
    zh: {
      title: "文创销售与版税", token: "访问令牌", museum: "博物馆", from: "开始日期", to: "结束日期",
      granularity: "粒度", day: "按日", week: "按周", month: "按月", apply: "查询",
      gross_fen: "销售总额", refunds_fen: "退款", net_fen: "净销售额", units: "净销量（件）",
      orders: "订单数", refund_rate: "退款率", royalty_accrued_fen: "授权版税应计（全体权利人）",
      royalty_reversed_fen: "授权版税冲回（全体权利人）", royalty_paid_fen: "已付版税（本馆及共有人）",
      royalty_outstanding_fen: "授权版税待付（全体权利人）",
      museum_share: "本馆应得份额", co_owner_share: "共有人（捐赠者等）份额", share_accrued: "应计",
      share_reversed: "冲回", share_paid: "已付", share_outstanding: "待付",
      shares_note: "份额即 ip 账本按权利人拆分的版税：本馆份额对应 ip 中本馆（权利人编号 = 博物馆编号）的余额；授权版税是全体权利人合计，并非本馆收入。",
      table_holders: "按权利人的版税", by_relic_csv: "按文物 CSV", holder: "权利人", kind: "类型",
      museum_share_net_fen: "本馆净份额", co_owner_share_net_fen: "共有人净份额",
      museum_share_outstanding_fen: "本馆待付", accrued_fen: "应计", reversed_fen: "冲回",
      net_share: "净份额", paid_fen: "已付", outstanding_fen: "待付", museum_share_line: "本馆净份额",
      kind_museum: "博物馆", kind_donor: "捐赠者", kind_artist: "艺术家", kind_company: "企业",
      chart_revenue: "销售额与版税趋势", chart_products: "热销文创产品", chart_relics: "文物排行榜",
      chart_licensees: "被授权方构成", chart_guarantees: "保底版税进度", table_revenue: "分期明细",
      period: "期间", name: "名称", royalty_net_fen: "授权版税净额", progress: "进度", earned_fen: "已实现",
      minimum_guarantee_fen: "保底金额", shortfall_fen: "差额", status: "状态", license: "授权",
      loading: "加载中…", ready: "已更新", forbidden: "无权查看该博物馆", need_token: "请提供访问令牌",
      error: "加载失败", footer: "金额单位：人民币元；日期按北京时间（Asia/Shanghai）划分。",
      net_sales: "净销售额", refunds: "退款", royalty_net: "授权版税净额（全体权利人）", royalty_paid: "已付版税",
      active: "有效", suspended: "暂停", revoked: "已撤销", expired: "已到期",
      authenticity: "防伪与举报", cert_verifications: "证书验证次数", cert_revoked_seen: "已撤销序列号被查验",
      cert_unknown_seen: "未知序列号（举报）", counterfeit_reports: "仿冒举报",
      sign_in: "登录", sign_out: "退出登录", need_sign_in: "请登录后查看",
      session_ended: "登录已失效，请重新登录", sign_in_failed: "登录未完成，请重试",
    },
    en: {
      title: "Sales & royalties", token: "Access token", museum: "Museum", from: "From", to: "To",
      granularity: "Granularity", day: "Daily", week: "Weekly", month: "Monthly", apply: "Apply",
      gross_fen: "Gross sales", refunds_fen: "Refunds", net_fen: "Net sales", units: "Net units",
      orders: "Orders", refund_rate: "Refund rate", royalty_accrued_fen: "Licence royalty accrued (all holders)",
      royalty_reversed_fen: "Licence royalty reversed (all holders)",
      royalty_paid_fen: "Royalties paid (museum and co-owners)",
      royalty_outstanding_fen: "Licence royalty outstanding (all holders)",
      museum_share: "Museum's own share", co_owner_share: "Co-owners' share (donors…)",
      share_accrued: "Accrued", share_reversed: "Reversed", share_paid: "Paid", share_outstanding: "Outstanding",
      shares_note: "Shares are ip's ledger splits by rights holder: the museum's own share is ip's balance for the museum (holder id = museum id). The licence royalty is all holders together, not the museum's income.",
      table_holders: "Royalties by holder", by_relic_csv: "CSV by relic", holder: "Holder", kind: "Kind",
      museum_share_net_fen: "Museum share (net)", co_owner_share_net_fen: "Co-owner share (net)",
      museum_share_outstanding_fen: "Museum share outstanding", accrued_fen: "Accrued",
      reversed_fen: "Reversed", net_share: "Net share", paid_fen: "Paid", outstanding_fen: "Outstanding",
      museum_share_line: "Museum's own share (net)",
      kind_museum: "museum", kind_donor: "donor", kind_artist: "artist", kind_company: "company",
      chart_revenue: "Revenue and royalties over time", chart_products: "Top products",
      chart_relics: "Relic leaderboard", chart_licensees: "Licensee breakdown",
      chart_guarantees: "Minimum guarantee progress", table_revenue: "By period",
      period: "Period", name: "Name", royalty_net_fen: "Net licence royalty", progress: "Progress",
      earned_fen: "Earned", minimum_guarantee_fen: "Guarantee", shortfall_fen: "Shortfall",
      status: "Status", license: "License", loading: "Loading…", ready: "Updated",
      forbidden: "You may not see this museum", need_token: "An access token is needed",
      error: "Could not load", footer: "Amounts in CNY; days are Beijing time (Asia/Shanghai).",
      net_sales: "Net sales", refunds: "Refunds", royalty_net: "Net licence royalty (all holders)", royalty_paid: "Royalties paid",
      active: "active", suspended: "suspended", revoked: "revoked", expired: "expired",
      authenticity: "Authenticity and counterfeits", cert_verifications: "Certificate checks",
      cert_revoked_seen: "Revoked serials seen", cert_unknown_seen: "Unknown serials (reported)",
      counterfeit_reports: "Counterfeit reports",
      sign_in: "Sign in", sign_out: "Sign out", need_sign_in: "Sign in to see the dashboard",
      session_ended: "Your session ended: sign in again", sign_in_failed: "Sign-in did not complete: try again",
    },
  };

  const $ = (sel) => document.querySelector(sel);
  const config = document.body.dataset; // rendered by the service (api.py)
  const devTokens = config.devTokens === "true"; // ENVIRONMENT != production
  let params = new URLSearchParams(location.search); // read again once back from the provider
  const state = { lang: "en", token: "", data: null, charts: {} };
  const t = (key) => (I18N[state.lang] || I18N.en)[key] || key;

  // --- signing in -----------------------------------------------------------------
  // With a provider configured the page signs in with the authorization code
  // flow and PKCE (oidc-client-ts). Its user (the tokens) and the state of a
  // sign-in under way live in sessionStorage, never localStorage: they end with
  // the tab. The code comes back to this page itself and leaves the URL at once.
  // Renewal uses the refresh token (a fetch to the token endpoint), never a
  // hidden iframe, so the CSP keeps frames out entirely.
  const RENEW_BEFORE_SECONDS = 10;
  const home = location.origin + location.pathname; // the redirect and post-logout URI
  const manager = config.oidcAuthority ? new oidc.UserManager({
    authority: config.oidcAuthority,
    client_id: config.oidcClientId,
    redirect_uri: home,
    response_type: "code",
    scope: "openid",
    userStore: new oidc.WebStorageStateStore({ store: sessionStorage }),
    stateStore: new oidc.WebStorageStateStore({ store: sessionStorage }),
    automaticSilentRenew: false, // renewed below, by refresh token only
    accessTokenExpiringNotificationTimeInSeconds: RENEW_BEFORE_SECONDS,
  }) : null;

  // the development link (#token=...): taken once and out of the URL at once;
  // ignored in production, where only the provider's sign-in counts
  const fragment = new URLSearchParams(location.hash.slice(1));
  if (fragment.has("token")) {
    if (devTokens) sessionStorage.setItem("dashboard.token", fragment.get("token"));
    history.replaceState(null, "", location.pathname + location.search);
  }
  if (devTokens || !manager) state.token = sessionStorage.getItem("dashboard.token") || "";
  const signsIn = () => Boolean(manager) && !state.token;

  async function finishSignIn() {
    const query = new URLSearchParams(location.search);
    if (!signsIn() || !query.has("state") || !(query.has("code") || query.has("error"))) return;
    let back = "";
    try {
      const user = await manager.signinRedirectCallback(); // the code exchanged for tokens
      back = typeof user.state === "string" ? user.state : "";
    } catch (error) {
      state.signInError = error; // refused at the provider, or a reloaded (used) callback
    }
    history.replaceState(null, "", location.pathname + back); // the page's own query again
  }

  let renewal = null;
  async function renewedUser() {
    const user = await manager.getUser();
    if (!user || !user.refresh_token) return null; // no iframe fallback (see above)
    // one refresh at a time: the expiry timer and an API call may both ask
    renewal = renewal || manager.signinSilent().catch(() => null).finally(() => { renewal = null; });
    return renewal;
  }

  async function bearer() {
    if (!signsIn()) return state.token;
    const user = await manager.getUser();
    const fresh = user && user.expires_in <= RENEW_BEFORE_SECONDS ? await renewedUser() : user;
    if (!fresh) {
      const reason = user ? "session_ended" : "need_sign_in";
      throw Object.assign(new Error(t(reason)), { status: 401, reason });
    }
    return fresh.access_token;
  }

  function showSignedIn(user) {
    $("#who").textContent = user.profile.preferred_username || user.profile.email || "";
    $("#sign-in").hidden = true;
    $("#sign-out").hidden = false;
  }

  async function showSignedOut(reason) {
    await manager.removeUser();
    $("#who").textContent = "";
    $("#sign-in").hidden = false;
    $("#sign-out").hidden = true;
    setStatus(reason === "need_sign_in" ? "signed-out" : "error", t(reason));
  }

  function signIn() {
    // back on this page with its query (dates, language), kept in the sign-in state
    manager.signinRedirect({ state: location.search })
      .catch((error) => setStatus("error", `${t("error")}: ${error.message}`));
  }

  async function signOut() {
    // RP-initiated logout ends the provider's session. Posted, as the spec
    // allows, so the ID token hint never sits in a URL (history, the
    // provider's logs); the CSP's form-action allows the provider for it.
    const user = await manager.getUser();
    const endpoint = await manager.metadataService.getEndSessionEndpoint();
    await manager.removeUser();
    const form = document.createElement("form");
    form.method = "post";
    form.action = endpoint;
    const fields = { client_id: config.oidcClientId, post_logout_redirect_uri: home };
    if (user && user.id_token) fields.id_token_hint = user.id_token;
    for (const [name, value] of Object.entries(fields)) {
      const input = document.createElement("input");
      Object.assign(input, { type: "hidden", name, value });
      form.append(input);
    }
    document.body.append(form);
    form.submit();
  }

  // --- formatting: integer fen in, exact text out ---------------------------------
  const pad2 = (n) => String(n).padStart(2, "0");
  function yuan(fen) {
    const abs = Math.abs(fen);
    return (fen < 0 ? "-" : "") + "¥" + Math.floor(abs / 100).toLocaleString("en-US") + "." + pad2(abs % 100);
  }
  const count = (n) => n.toLocaleString("en-US");
  const percent = (bps) => Math.floor(bps / 100) + "." + pad2(bps % 100) + "%";
  const format = (kind, v) => (kind === "count" ? count(v) : kind === "bps" ? percent(v) : yuan(v));
  const toYuan = (fen) => fen / 100;
  const label = (row) => (state.lang === "zh" ? row.name_zh || row.name_en : row.name_en || row.name_zh) || row.id;

  function today() {
    const parts = new Intl.DateTimeFormat("en-CA", { timeZone: "Asia/Shanghai" }).format(new Date());
    return parts; // YYYY-MM-DD
  }
  function daysBefore(iso, n) {
    const d = new Date(iso + "T00:00:00Z");
    d.setUTCDate(d.getUTCDate() - n);
    return d.toISOString().slice(0, 10);
  }

  function setStatus(stateName, text) {
    const el = $("#status");
    el.dataset.state = stateName;
    el.textContent = text;
  }

  function applyLanguage() {
    document.documentElement.lang = state.lang === "zh" ? "zh-CN" : "en";
    document.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
    document.querySelectorAll("[data-lang]").forEach((b) => b.classList.toggle("active", b.dataset.lang === state.lang));
    localStorage.setItem("dashboard.lang", state.lang);
    if (state.data) render(state.data);
  }

  async function api(path) {
    const response = await fetch(path, { headers: { Authorization: "Bearer " + (await bearer()) } });
    if (!response.ok) {
      const error = new Error(response.status + " " + response.statusText);
      error.status = response.status;
      throw error;
    }
    return response;
  }

  function query() {
    const q = new URLSearchParams({ from: $("#from").value, to: $("#to").value, granularity: $("#granularity").value });
    return q.toString();
  }

  async function load() {
    if (!signsIn() && !state.token) {
      $("#token-field").hidden = false;
      setStatus("error", t("need_token"));
      return;
    }
    setStatus("loading", t("loading"));
    try {
      const museum = encodeURIComponent($("#museum").value);
      const data = await (await api(`/museums/${museum}/dashboard?${query()}&top=10`)).json();
      state.data = data;
      render(data);
      setStatus("ready", `${t("ready")} ${new Date().toLocaleTimeString()} · v${data.projection_version}`);
    } catch (error) {
      if (error.status === 401 && signsIn()) await showSignedOut(error.reason || "session_ended");
      else setStatus("error", error.status === 403 ? t("forbidden") : `${t("error")}: ${error.message}`);
    }
  }

  // --- rendering ------------------------------------------------------------------

  function chart(id) {
    if (!state.charts[id]) state.charts[id] = echarts.init(document.getElementById(id));
    return state.charts[id];
  }

  function render(data) {
    $("#museum-name").textContent = (state.lang === "zh" ? data.museum_name_zh : data.museum_name_en) || data.museum_id;
    document.querySelectorAll("[data-kpi]").forEach((el) => {
      const value = data.totals[el.dataset.kpi];
      el.dataset.value = String(value);
      el.textContent = format(el.dataset.kind, value);
    });
    // ip's certificate checks and counterfeit reports (counts, not money)
    document.querySelectorAll("[data-auth]").forEach((el) => {
      const value = (data.authenticity || {})[el.dataset.auth] || 0;
      el.dataset.value = String(value);
      el.textContent = format("count", value);
    });
    renderCharts(data);
    renderTables(data);
  }

  function horizontalBars(rows, series) {
    const reversed = [...rows].reverse(); // best at the top
    return {
      tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
      legend: { top: 0 },
      grid: { left: 8, right: 24, top: 28, bottom: 8, containLabel: true },
      xAxis: { type: "value", axisLabel: { formatter: (v) => "¥" + v.toLocaleString("en-US") } },
      yAxis: { type: "category", data: reversed.map(label) },
      series: series.map(([name, key]) => ({ name: t(name), type: "bar", data: reversed.map((r) => toYuan(r[key])) })),
    };
  }

  function renderCharts(data) {
    const periods = data.series.map((p) => p.period);
    chart("chart-revenue").setOption({
      tooltip: { trigger: "axis" },
      legend: { top: 0 },
      grid: { left: 8, right: 16, top: 32, bottom: 8, containLabel: true },
      xAxis: { type: "category", data: periods },
      yAxis: { type: "value", axisLabel: { formatter: (v) => "¥" + v.toLocaleString("en-US") } },
      series: [
        { id: "net", name: t("net_sales"), type: "bar", data: data.series.map((p) => toYuan(p.net_fen)) },
        { id: "refunds", name: t("refunds"), type: "bar", data: data.series.map((p) => toYuan(p.refunds_fen)) },
        { id: "royalty", name: t("royalty_net"), type: "line", smooth: true, data: data.series.map((p) => toYuan(p.royalty_net_fen)) },
        { id: "museum_share", name: t("museum_share_line"), type: "line", data: data.series.map((p) => toYuan(p.museum_share_net_fen)) },
        { id: "paid", name: t("royalty_paid"), type: "line", data: data.series.map((p) => toYuan(p.royalty_paid_fen)) },
      ],
    }, true);
    chart("chart-products").setOption(horizontalBars(data.top_products, [["net_sales", "net_fen"]]), true);
    chart("chart-relics").setOption(horizontalBars(data.top_relics, [["net_sales", "net_fen"], ["royalty_net", "royalty_net_fen"]]), true);
    chart("chart-licensees").setOption({
      tooltip: { trigger: "item", formatter: (p) => `${p.name}: ¥${p.value.toLocaleString("en-US")} (${p.percent}%)` },
      legend: { bottom: 0, type: "scroll" },
      series: [{
        name: t("chart_licensees"), type: "pie", radius: ["35%", "65%"],
        data: data.top_licensees.map((r) => ({ name: label(r), value: toYuan(r.net_fen) })),
      }],
    }, true);
    const guarantees = data.guarantees.filter((g) => g.minimum_guarantee_fen > 0);
    chart("chart-guarantees").setOption({
      tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
      grid: { left: 8, right: 48, top: 16, bottom: 8, containLabel: true },
      xAxis: { type: "value", max: 100, axisLabel: { formatter: "{value}%" } },
      yAxis: { type: "category", data: guarantees.map((g) => g.license_id) },
      series: [{
        name: t("progress"), type: "bar", data: guarantees.map((g) => g.progress_bps / 100),
        label: { show: true, position: "right", formatter: (p) => `${p.value}%` },
        markLine: { silent: true, symbol: "none", data: [{ xAxis: 100 }] },
      }],
    }, true);
  }

  function table(id, columns, rows, rowKey) {
    const head = "<tr>" + columns.map(([key]) => `<th>${t(key)}</th>`).join("") + "</tr>";
    const open = (row) => (rowKey ? `<tr data-row="${escapeHtml(String(rowKey(row)))}">` : "<tr>");
    const body = rows.map((row) => open(row) + columns.map(([key, get, kind]) => {
      const value = get(row);
      const text = kind ? format(kind, value) : value;
      return `<td data-col="${key}"${kind ? ` data-value="${value}"` : ""}>${escapeHtml(String(text))}</td>`;
    }).join("") + "</tr>").join("");
    document.getElementById(id).innerHTML = `<thead>${head}</thead><tbody>${body}</tbody>`;
  }

  function escapeHtml(s) {
    return s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
  }

  function renderTables(data) {
    const money = (key) => [key, (r) => r[key], "fen"];
    table("table-revenue", [["period", (r) => r.period], money("gross_fen"), money("refunds_fen"), money("net_fen"),
      ["orders", (r) => r.orders, "count"], money("royalty_accrued_fen"), money("royalty_reversed_fen"),
      money("royalty_paid_fen"), money("royalty_outstanding_fen"), money("museum_share_net_fen"),
      money("museum_share_outstanding_fen"), money("co_owner_share_net_fen")], data.series);
    const holders = [data.museum_share, ...data.co_owners];
    const museumName = (state.lang === "zh" ? data.museum_name_zh : data.museum_name_en) || data.museum_name_zh;
    const holderName = (r) => (r.holder_id === data.museum_id ? museumName : r.name) || r.holder_id;
    table("table-holders", [["holder", holderName], ["kind", (r) => (r.holder_kind ? t("kind_" + r.holder_kind) : "")],
      money("accrued_fen"), money("reversed_fen"), ["net_share", (r) => r.net_fen, "fen"], money("paid_fen"),
      money("outstanding_fen")], holders, (r) => r.holder_id);
    const ranked = [["name", label], money("net_fen"), ["units", (r) => r.net_units, "count"], money("royalty_net_fen")];
    table("table-top-products", ranked, data.top_products);
    table("table-top-relics", [...ranked, money("museum_share_net_fen"), money("co_owner_share_net_fen")], data.top_relics);
    table("table-top-licensees", ranked, data.top_licensees);
    table("table-guarantees", [["license", (r) => r.license_id], ["status", (r) => (r.status ? t(r.status) : "")],
      money("earned_fen"), money("minimum_guarantee_fen"), ["progress", (r) => r.progress_bps, "bps"],
      money("shortfall_fen")], data.guarantees);
  }

  async function exportCsv(name) {
    const museum = encodeURIComponent($("#museum").value);
    const blob = await (await api(`/museums/${museum}/export/${name}.csv?${query()}`)).blob();
    const a = document.createElement("a");
    a.href = URL.createObjectURL(blob);
    a.download = `${$("#museum").value}-${name}.csv`;
    a.click();
    URL.revokeObjectURL(a.href);
  }

  async function start() {
    await finishSignIn();
    params = new URLSearchParams(location.search);
    state.lang = params.get("lang") || localStorage.getItem("dashboard.lang") ||
      (navigator.language.startsWith("zh") ? "zh" : "en");
    const end = params.get("to") || today();
    $("#to").value = end;
    $("#from").value = params.get("from") || daysBefore(end, 29);
    $("#granularity").value = params.get("granularity") || "day";
    $("#token").value = state.token;
    applyLanguage();
    document.querySelectorAll("[data-lang]").forEach((b) => b.addEventListener("click", () => { state.lang = b.dataset.lang; applyLanguage(); }));
    document.querySelectorAll("[data-export]").forEach((b) => b.addEventListener("click", () => exportCsv(b.dataset.export)));
    $("#token").addEventListener("change", () => { state.token = $("#token").value; sessionStorage.setItem("dashboard.token", state.token); });
    $("#controls").addEventListener("submit", (e) => { e.preventDefault(); load(); });
    window.addEventListener("resize", () => Object.values(state.charts).forEach((c) => c.resize()));
    if (signsIn()) {
      $("#sign-in").addEventListener("click", signIn);
      $("#sign-out").addEventListener("click", () => signOut()
        .catch((error) => setStatus("error", `${t("error")}: ${error.message}`)));
      manager.events.addAccessTokenExpiring(async () => {
        if (!(await renewedUser())) await showSignedOut("session_ended");
      });
      let user = await manager.getUser();
      if (user && user.expired) user = await renewedUser();
      if (!user) {
        await showSignedOut(state.signInError ? "sign_in_failed" : "need_sign_in");
        return;
      }
      showSignedIn(user);
    }
    if (signsIn() || state.token) {
      try {
        const me = await (await api("/me")).json();
        // a museum's staff sees only its own museum; an operator picks one
        const own = me.role === "museum";
        $("#museum").readOnly = own;
        $("#museum").value = (own ? "" : params.get("museum")) || me.museum_id || "";
      } catch (error) {
        if (signsIn()) return showSignedOut("session_ended");
        setStatus("error", `${t("error")}: ${error.message}`);
        $("#token-field").hidden = false;
        return;
      }
    } else {
      $("#museum").value = params.get("museum") || "";
    }
    load();
  }

  start();
})();
