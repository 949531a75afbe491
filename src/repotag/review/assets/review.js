// The review page: keyboard and buttons edit the tag list, and each decision is saved before moving on.
(function () {
  const item = document.getElementById("item");
  if (!item) return;
  const key = item.dataset.key;
  const maxTags = Number(item.dataset.maxTags);
  const names = new Set(Array.from(document.querySelectorAll("#taxonomy option")).map((o) => o.value));
  const list = document.getElementById("tags");
  const input = document.getElementById("add-tag");
  const message = document.getElementById("message");
  let tags = JSON.parse(item.dataset.tags);

  function render() {
    list.innerHTML = "";
    tags.forEach((name, i) => {
      const chip = document.createElement("span");
      const locked = item.dataset.locked === "true";
      chip.className = "chip" + (locked ? " locked" : "");
      chip.dataset.tag = name;
      chip.title = locked ? "set by a person: locked" : "suggested";
      chip.textContent = (locked ? "\u{1F512} " : "") + name + " ";
      const hint = document.createElement("kbd");
      hint.textContent = String(i + 1);
      const remove = document.createElement("button");
      remove.type = "button";
      remove.title = "remove (" + (i + 1) + ")";
      remove.textContent = "\u00d7";
      remove.addEventListener("click", () => { tags.splice(i, 1); render(); });
      chip.append(hint, remove);
      list.append(chip);
    });
  }

  function add(name) {
    name = name.trim();
    const match = Array.from(names).find((n) => n.trim().toLowerCase() === name.toLowerCase());
    if (!match) { message.textContent = "'" + name + "' is not in the taxonomy"; return false; }
    if (tags.includes(match)) { message.textContent = "already there"; return false; }
    if (tags.length >= maxTags) { message.textContent = "at most " + maxTags + " tags"; return false; }
    tags.push(match);
    message.textContent = "";
    render();
    return true;
  }

  async function post(path, body) {
    const response = await fetch(path, {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
    });
    if (!response.ok) {
      const error = await response.json().catch(() => ({}));
      message.textContent = (error.error && error.error.message) || "the server refused: " + response.status;
      return false;
    }
    window.location.reload();
    return true;
  }

  const save = () => post("/api/decisions", { key: key, tags: tags });
  const skip = () => post("/api/skip", { key: key });

  document.getElementById("save").addEventListener("click", save);
  document.getElementById("skip").addEventListener("click", skip);
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter") {
      event.preventDefault();
      if (add(input.value)) input.value = "";
    } else if (event.key === "Escape") {
      input.blur();
    }
  });
  document.addEventListener("keydown", (event) => {
    if (event.target.tagName === "INPUT" || event.target.tagName === "SELECT" || event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.key === "a" || event.key === "Enter") { event.preventDefault(); save(); }
    else if (event.key === "s") { event.preventDefault(); skip(); }
    else if (event.key === "t") { event.preventDefault(); input.focus(); }
    else if (/^[1-9]$/.test(event.key) && Number(event.key) <= tags.length) {
      tags.splice(Number(event.key) - 1, 1);
      render();
    }
  });
  render();
})();
