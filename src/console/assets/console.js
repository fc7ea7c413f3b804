// The console's one script module: behaviour only, never content (the server renders and escapes every value).

// Buttons with data-copy copy the text of the element it names, and say so.
for (const button of document.querySelectorAll("button[data-copy]")) {
  button.addEventListener("click", async () => {
    const source = document.getElementById(button.dataset.copy);
    // The clipboard API exists only on https and localhost: elsewhere the text is selected to copy by hand.
    if (navigator.clipboard) {
      await navigator.clipboard.writeText(source.textContent.trim());
      button.textContent = "Copied";
    } else {
      window.getSelection().selectAllChildren(source);
      button.textContent = "Selected: press Ctrl+C";
    }
  });
}

// Forms with data-confirm ask first.
for (const form of document.querySelectorAll("form[data-confirm]")) {
  form.addEventListener("submit", (event) => {
    if (!window.confirm(form.dataset.confirm)) event.preventDefault();
  });
}

// Live pages: an instance's state, a module's status and the event tail follow the engine's event
// stream. Values are written with textContent only.
const live = document.querySelector("[data-live-instance], [data-live-module], [data-event-tail]");
if (live) {
  const system = live.dataset.liveSystem || live.dataset.eventTail || "";
  const stream = new EventSource("/console/events/stream" + (system ? "?system_id=" + encodeURIComponent(system) : ""));
  const handle = (raw) => {
    const event = JSON.parse(raw.data);
    if (live.dataset.eventTail !== undefined) return showEvent(live, event);
    if (live.dataset.liveInstance && event.data.trigger_instance === live.dataset.liveInstance) showState(live, event.data);
    if (live.dataset.liveModule && event.event === "module.status_changed" && event.data.module_id === live.dataset.liveModule) {
      showStatus(live, event.data.key, event.data.value);
    }
  };
  if (live.dataset.eventTail === undefined) {
    for (const kind of ["trigger.fired", "trigger.reset", "trigger.state_changed", "module.status_changed"]) {
      stream.addEventListener(kind, handle);
    }
  }
  if (live.dataset.eventTail !== undefined) {
    for (const kind of (live.dataset.kinds || "").split(" ")) stream.addEventListener(kind, handle);
  }
}

function showState(section, state) {
  for (const field of ["triggered", "trigger_count", "last_fired_at", "action_errors"]) {
    const cell = section.querySelector(`[data-live="${field}"]`);
    if (cell && field in state) cell.textContent = shownState(field, state[field]);
  }
  const list = section.querySelector('[data-live="conditions"]');
  if (list && state.conditions) {
    list.replaceChildren(...Object.entries(state.conditions).map(([name, value]) => {
      const item = document.createElement("li");
      item.textContent = `${name}: ${value}`;
      return item;
    }));
  }
}

function shownState(field, value) {
  if (value === null) return "never";
  if (field === "last_fired_at") return new Date(value * 1000).toISOString().replace("T", " ").slice(0, 19) + " UTC";
  return String(value);
}

function showStatus(section, key, value) {
  const list = section.querySelector('[data-live="status"]');
  let cell = [...list.querySelectorAll("dd")].find((dd) => dd.dataset.status === key);
  if (!cell) {
    const term = document.createElement("dt");
    term.textContent = key;
    cell = document.createElement("dd");
    cell.dataset.status = key;
    list.append(term, cell);
  }
  cell.textContent = typeof value === "string" ? value : JSON.stringify(value);
}

function showEvent(list, event) {
  const item = document.createElement("li");
  const when = new Date(event.timestamp).toLocaleTimeString();
  item.textContent = `${when} ${event.event} ${JSON.stringify(event.data)}`;
  list.prepend(item);
  while (list.children.length > 200) list.lastChild.remove();
}
