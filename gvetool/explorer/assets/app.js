// The explorer page: every number and sentence comes from the JSON API (/api/...).
"use strict";

const PAGE = 24;
const state = { info: null, offset: 0, total: 0, timer: null };
const $ = (id) => document.getElementById(id);

function text(tag, content, className) {
  const node = document.createElement(tag);
  if (content !== undefined) node.textContent = content;
  if (className) node.className = className;
  return node;
}

function showError(message) {
  const box = $("error");
  box.textContent = message || "";
  box.hidden = !message;
}

async function api(path, options) {
  const response = await fetch(path, options);
  let body = null;
  try { body = await response.json(); } catch (e) { body = null; }
  if (!response.ok) throw new Error((body && body.error) || `${response.status} ${response.statusText}`);
  return body;
}

// "002.Laysan_Albatross" -> "Laysan Albatross": how a reader names a class.
function plain(name) {
  const match = /^\d+\.(.*)$/.exec(name || "");
  return (match ? match[1] : name || "").replace(/_/g, " ");
}

function option(select, value, label) {
  const node = text("option", label);
  node.value = value;
  select.appendChild(node);
  return node;
}

function sentenceLine(run, sentence, trueClass) {
  const line = text("div", undefined, "sentence");
  line.appendChild(text("span", run, "run"));
  line.appendChild(text("span", sentence.text, "text"));
  if (sentence.repeats) line.appendChild(text("span", "repeats a phrase", "badge repeats"));
  if (sentence.judged_as) {
    const agrees = sentence.judged_as === trueClass;
    const badge = text("span", `judge: ${plain(sentence.judged_as)}`, `badge ${agrees ? "judge-ok" : "judge-other"}`);
    badge.title = "the class an independent judge (TF-IDF + logistic regression on the training captions) reads in this sentence";
    line.appendChild(badge);
  }
  if (sentence.counterfactual) {
    const other = text("div", `not ${plain(sentence.counterfactual.class)}: ${sentence.counterfactual.text}`, "counter");
    other.title = "this run's explanation of the image as the class its explanations of the true class are most often taken for";
    line.appendChild(other);
  }
  return line;
}

function card(image) {
  const node = text("article", undefined, "card");
  const picture = document.createElement("img");
  picture.loading = "lazy";
  picture.src = image.image;
  picture.alt = image.id;
  node.appendChild(picture);
  const body = text("div");
  if (image.class) {
    const name = text("div", plain(image.class), "cls");
    name.dataset.class = image.class;
    body.appendChild(name);
  }
  body.appendChild(text("div", image.id, "id"));
  for (const [run, sentence] of Object.entries(image.sentences)) body.appendChild(sentenceLine(run, sentence, image.class));
  node.appendChild(body);
  return node;
}

async function browse() {
  const params = new URLSearchParams({ split: state.info.split, offset: state.offset, limit: PAGE });
  const chosen = $("class-filter").value;
  if (chosen) params.set("class", chosen);
  const words = $("search").value.trim();
  if (words) params.set("q", words);
  try {
    const page = await api(`/api/images?${params}`);
    state.total = page.total;
    const cards = $("cards");
    cards.replaceChildren(...page.images.map(card));
    const last = Math.min(page.offset + page.images.length, page.total);
    $("count").textContent = page.total ? `${page.offset + 1}\u2013${last} of ${page.total} images` : "no image matches";
    $("prev").disabled = page.offset === 0;
    $("next").disabled = last >= page.total;
    showError("");
  } catch (error) {
    showError(error.message);
  }
}

function restart() {
  state.offset = 0;
  browse();
}

function chooseRun() {
  const run = state.info.runs.find((r) => r.name === $("explain-run").value);
  const note = $("run-note");
  $("explain-button").disabled = !run || !run.explains_photos;
  $("explain-class").disabled = !run || !run.class_conditioned;
  note.textContent = !run ? "" : !run.explains_photos ? run.why_not
    : run.class_conditioned ? "This run explains the photo as the class you choose, or as the class it ranks first."
    : "This run describes the photo; it reads no class, so it gives no counterfactual.";
}

function choosePhoto(file) {
  if (!file) return;
  const input = $("photo-input");
  if (input.files[0] !== file) {
    const transfer = new DataTransfer();
    transfer.items.add(file);
    input.files = transfer.files;
  }
  const preview = $("preview");
  preview.src = URL.createObjectURL(file);
  preview.hidden = false;
}

async function explain(event) {
  event.preventDefault();
  const file = $("photo-input").files[0];
  if (!file) { showError("choose a photo first"); return; }
  const form = new FormData();
  form.append("image", file);
  form.append("run", $("explain-run").value);
  if ($("explain-class").value) form.append("class", $("explain-class").value);
  const button = $("explain-button");
  button.disabled = true;
  button.textContent = "Explaining\u2026";
  try {
    const result = await api("/api/explain", { method: "POST", body: form });
    $("explanation").textContent = result.class ? `This is a ${plain(result.class)} because ${result.explanation}.` : result.explanation;
    $("counterfactual").textContent = result.counterfactual
      ? `It is not a ${plain(result.counterfactual.class)} because ${result.counterfactual.explanation}.` : "";
    const ranking = $("ranking");
    ranking.replaceChildren(...result.ranking.slice(0, 5).map((row) => {
      const item = text("li", `${plain(row.class)} ${(100 * row.probability).toFixed(1)}%`);
      const bar = text("span", undefined, "bar");
      bar.style.width = `${Math.max(2, 160 * row.probability)}px`;
      item.appendChild(bar);
      return item;
    }));
    $("result").classList.remove("empty");
    showError("");
  } catch (error) {
    showError(error.message);
  } finally {
    button.textContent = "Explain";
    chooseRun();
  }
}

function tabs() {
  for (const tab of document.querySelectorAll(".tab")) {
    tab.addEventListener("click", () => {
      for (const other of document.querySelectorAll(".tab")) {
        other.classList.toggle("active", other === tab);
        $(other.dataset.panel).hidden = other !== tab;
      }
    });
  }
}

async function start() {
  tabs();
  $("result").classList.add("empty");
  try {
    state.info = await api("/api/runs");
  } catch (error) {
    showError(error.message);
    return;
  }
  const info = state.info;
  $("summary").textContent = `${info.runs.map((r) => r.name).join(" vs ")} on ${info.dataset} (${info.split} split, ${info.images} images)`;
  for (const name of info.classes) {
    option($("class-filter"), name, plain(name));
    option($("explain-class"), name, plain(name));
  }
  for (const run of info.runs) option($("explain-run"), run.name, run.explains_photos ? run.name : `${run.name} (features only)`);
  const able = info.runs.find((r) => r.explains_photos);
  if (able) $("explain-run").value = able.name;
  chooseRun();
  $("class-filter").addEventListener("change", restart);
  $("search").addEventListener("input", () => { clearTimeout(state.timer); state.timer = setTimeout(restart, 250); });
  $("filters").addEventListener("submit", (e) => { e.preventDefault(); restart(); });
  $("prev").addEventListener("click", () => { state.offset = Math.max(0, state.offset - PAGE); browse(); });
  $("next").addEventListener("click", () => { state.offset += PAGE; browse(); });
  $("explain-run").addEventListener("change", chooseRun);
  $("photo-input").addEventListener("change", (e) => choosePhoto(e.target.files[0]));
  const drop = $("drop");
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => { e.preventDefault(); drop.classList.remove("over"); choosePhoto(e.dataTransfer.files[0]); });
  $("explain-form").addEventListener("submit", explain);
  browse();
}

start();
