--[[ crossref.lua — number figures and tables of the joined book per chapter ("图 2.3",
"表 2.1"), put the number in front of each caption, and turn `@fig-…` / `@tbl-…` / `@sec-…`
references (Cite elements, or plain text as produced by the notebook reader, also inside
Chinese text with no spaces around the reference) into links reading "图 2.3" / "表 2.1" /
"第 2 章" / "第 2.3 节" — or "Figure 2.3" / "Chapter 2" / "Section 2.3" when the metadata
`crossref-lang` is "en".

Chapters are the numbered level-1 headings (the index page is `.unnumbered`). Unknown
labels are rendered as "?@label" and reported on stderr, like Quarto does.
]]

local WORDS = {
  zh = { fig = "图 %s", tbl = "表 %s", chapter = "第 %s 章", section = "第 %s 节" },
  en = { fig = "Figure %s", tbl = "Table %s", chapter = "Chapter %s", section = "Section %s" },
}
local LABELS = WORDS.zh
local KINDS = { fig = true, tbl = true, sec = true }
local numbers = {}   -- label -> "图 2.3"

local function has_class(el, c)
  for _, x in ipairs(el.classes or {}) do
    if x == c then return true end
  end
  return false
end

local warned = {}
local function warn(msg)
  if warned[msg] then return end
  warned[msg] = true
  io.stderr:write("[publish] " .. msg .. "\n")
end

local function number_everything(doc)
  local chapter, section, counts = 0, 0, { fig = 0, tbl = 0 }
  local function next_number(kind)
    counts[kind] = counts[kind] + 1
    if chapter > 0 then
      return string.format(LABELS[kind], chapter .. "." .. counts[kind])
    end
    return string.format(LABELS[kind], counts[kind])
  end
  local function prefix_caption(caption, label)
    local num = pandoc.Span({ pandoc.Str(label) }, { class = "xref-number" })
    if #caption.long == 0 then
      caption.long = { pandoc.Plain({ num }) }
    else
      local first = caption.long[1]
      if first.content then
        first.content:insert(1, pandoc.Space())
        first.content:insert(1, num)
      end
    end
    return caption
  end
  doc.blocks = doc.blocks:walk({
    traverse = "topdown",
    Header = function(h)
      local numbered = not has_class(h, "unnumbered")
      if h.level == 1 then
        if numbered then
          chapter = chapter + 1
          counts = { fig = 0, tbl = 0 }
        end
        section = 0
        if numbered and h.identifier:match("^sec%-") then
          numbers[h.identifier] = string.format(LABELS.chapter, chapter)
        end
      elseif h.level == 2 and chapter > 0 and numbered then
        section = section + 1
        if h.identifier:match("^sec%-") then
          numbers[h.identifier] = string.format(LABELS.section, chapter .. "." .. section)
        end
      end
      return h
    end,
    Figure = function(f)
      local kind = f.identifier:match("^(fig)%-")
      if kind then
        if numbers[f.identifier] then warn("duplicate label " .. f.identifier) end
        numbers[f.identifier] = next_number(kind)
        f.caption = prefix_caption(f.caption, numbers[f.identifier])
      end
      return f
    end,
    Table = function(t)
      local kind = t.identifier:match("^(tbl)%-")
      if kind then
        if numbers[t.identifier] then warn("duplicate label " .. t.identifier) end
        numbers[t.identifier] = next_number(kind)
        t.caption = prefix_caption(t.caption, numbers[t.identifier])
      end
      return t
    end,
  })
  return doc
end

local function ref(label)
  local text = numbers[label]
  if not text then
    warn("unresolved cross-reference @" .. label)
    return pandoc.Strong({ pandoc.Str("?@" .. label) })
  end
  return pandoc.Link({ pandoc.Str(text) }, "#" .. label, "", { class = "quarto-xref" })
end

-- Split a Str holding "@fig-x" (possibly glued to CJK text) into Str/Link pieces.
local function split_str(s)
  local text = s.text
  if not text:find("@%a%a%a%-") then return nil end
  local out, pos = pandoc.Inlines({}), 1
  while true do
    local a, b, kind, rest = text:find("@(%a%a%a)%-([%w_%-]+)", pos)
    if not a then break end
    if KINDS[kind] then
      local label = kind .. "-" .. rest:gsub("%-+$", "")
      local stop = a + #label -- index of last char of "@label"
      if a > pos then out:insert(pandoc.Str(text:sub(pos, a - 1))) end
      out:insert(ref(label))
      pos = stop + 1
    else
      out:insert(pandoc.Str(text:sub(pos, b)))
      pos = b + 1
    end
  end
  if pos <= #text then out:insert(pandoc.Str(text:sub(pos))) end
  return out
end

local function resolve(doc)
  doc.blocks = doc.blocks:walk({
    Cite = function(c)
      local out = pandoc.Inlines({})
      local any = false
      for i, cit in ipairs(c.citations) do
        local kind = cit.id:match("^(%a%a%a)%-")
        if kind and KINDS[kind] then
          any = true
          if i > 1 then out:insert(pandoc.Str(LABELS == WORDS.en and ", " or "、")) end
          out:insert(ref(cit.id))
        end
      end
      if any then return out end
    end,
    Str = split_str,
  })
  return doc
end

function Pandoc(doc)
  local lang = pandoc.utils.stringify(doc.meta["crossref-lang"] or "zh")
  LABELS = WORDS[lang] or WORDS.zh
  doc = number_everything(doc)
  return resolve(doc)
end
