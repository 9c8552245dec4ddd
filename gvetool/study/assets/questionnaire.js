// The questionnaire's answers: kept in localStorage, downloaded as CSV.
const KEY = "gvetool-study-" + document.body.dataset.study;
const saved = JSON.parse(localStorage.getItem(KEY) || "{}");
const rater = document.getElementById("rater");
const status = document.getElementById("status");
const download = document.getElementById("download");
const total = document.querySelectorAll(".q").length;
rater.value = saved.__rater || "";
for (const input of document.querySelectorAll(".choices input")) {
  if (saved[input.name] === input.value) input.checked = true;
  input.addEventListener("change", () => { saved[input.name] = input.value; update(); });
}
rater.addEventListener("input", () => { saved.__rater = rater.value.trim(); update(); });
function answered() { return Object.keys(saved).filter((k) => k !== "__rater"); }
function update() {
  localStorage.setItem(KEY, JSON.stringify(saved));
  status.textContent = `${answered().length} of ${total} answered`;
  download.disabled = !saved.__rater || answered().length === 0;
}
function quote(value) { return /[",\n]/.test(value) ? '"' + value.replace(/"/g, '""') + '"' : value; }
download.addEventListener("click", () => {
  const rows = ["rater,question,choice"].concat(answered().sort().map((q) => [saved.__rater, q, saved[q]].map(quote).join(",")));
  const link = document.createElement("a");
  link.href = URL.createObjectURL(new Blob([rows.join("\n") + "\n"], { type: "text/csv" }));
  link.download = `answers-${saved.__rater.replace(/[^A-Za-z0-9_-]/g, "_")}.csv`;
  link.click();
});
update();
