--[[ notebook.lua — turn one executed chapter notebook (pandoc's ipynb reader, run with
--ipynb-output=all) into publishable content, honouring the Quarto cell options the chapters
use (docs/chapters.md):

  * Markdown cells are unwrapped; code is dropped unless `#| echo: true`;
  * cells tagged `parameters` / `injected-parameters` and `#| include: false` cells vanish;
  * `#| output: false` drops the outputs; stderr streams (warnings) are always dropped;
  * in each output bundle the richest representation wins: text/markdown is parsed as
    Markdown content, images beat the text/plain fallback, plain text is kept only alone;
  * `#| label: fig-…` + `#| fig-cap:` → a Figure with that identifier;
    `#| label: tbl-…` + `#| tbl-cap:` → the output's table gets that identifier and caption;
  * the first level-1 heading is the chapter title; later level-1 headings become level 2;
    header identifiers get the chapter prefix so they stay unique across the book.

Metadata in: `chapter-prefix` (e.g. "c3"), `chapter-name` (for messages and a fallback title).
Numbering and cross-references are done later, over the joined book (crossref.lua).
]]

local prefix = "c"
local chapter_name = "chapter"
local default_echo = false

local function warn(msg)
  io.stderr:write("[publish] " .. chapter_name .. ": " .. msg .. "\n")
end

local function trim(s)
  return (s:gsub("^%s+", ""):gsub("%s+$", ""))
end

local function unquote(v)
  v = trim(v)
  local q = v:sub(1, 1)
  if (q == '"' or q == "'") and v:sub(-1) == q and #v >= 2 then
    return v:sub(2, -2)
  end
  return v
end

-- Split the leading `#| key: value` lines off a code cell's source.
local function cell_options(code)
  local opts, rest, in_head = {}, {}, true
  for line in (code .. "\n"):gmatch("([^\n]*)\n") do
    local k, v = line:match("^%s*#|%s*([%w%-_]+)%s*:%s*(.-)%s*$")
    if in_head and k then
      opts[k] = unquote(v)
    else
      if in_head and line:match("^%s*$") and #rest == 0 then
        -- blank lines between options and code are dropped
      else
        in_head = false
        rest[#rest + 1] = line
      end
    end
  end
  return opts, table.concat(rest, "\n"):gsub("%s+$", "")
end

local function truthy(v)
  return v == "true" or v == "yes" or v == "True"
end

local function falsy(v)
  return v == "false" or v == "no" or v == "False"
end

local function has_class(el, c)
  for _, x in ipairs(el.classes) do
    if x == c then return true end
  end
  return false
end

local function cell_tags(div)
  local raw = div.attributes["tags"]
  if not raw or raw == "" then return {} end
  local ok, decoded = pcall(pandoc.json.decode, raw)
  if ok and type(decoded) == "table" then return decoded end
  return {}
end

local function parse_md(text)
  return pandoc.read(text, "markdown-citations").blocks
end

local function caption_inlines(text)
  local blocks = pandoc.read(text, "markdown-citations").blocks
  if #blocks > 0 and blocks[1].content then
    return pandoc.Inlines(blocks[1].content)
  end
  return pandoc.Inlines({ pandoc.Str(text) })
end

-- Choose the best representation in one output bundle (one output Div).
local function output_blocks(out)
  if has_class(out, "stream") then
    if has_class(out, "stderr") then return {} end
    return out.content -- stdout: keep the CodeBlock
  end
  if has_class(out, "error") then
    warn("an error output was dropped from the publication")
    return {}
  end
  local md, img, html, plain, other = {}, {}, {}, {}, {}
  for _, b in ipairs(out.content) do
    if b.t == "RawBlock" and (b.format == "markdown" or b.format:match("^markdown")) then
      for _, x in ipairs(parse_md(b.text)) do md[#md + 1] = x end
    elseif b.t == "Para" and #b.content == 1 and b.content[1].t == "Image" then
      if #img == 0 then img[1] = b end -- png/svg/jpeg of the same figure: keep one
    elseif b.t == "RawBlock" and b.format == "html" then
      html[#html + 1] = b
    elseif b.t == "RawBlock" then
      -- latex and friends: not for this publication
    elseif b.t == "CodeBlock" then
      plain[#plain + 1] = b
    else
      other[#other + 1] = b
    end
  end
  if #md > 0 then return md end
  if #img > 0 then return img end
  if #html > 0 then
    -- e.g. a DataFrame's HTML: read it back as pandoc content so tables reach the PDF too
    local blocks = {}
    for _, h in ipairs(html) do
      local text = h.text:gsub("<style.-</style>", "")
      local ok, parsed = pcall(pandoc.read, text, "html")
      if ok then
        local function add(bs)
          for _, x in ipairs(bs) do
            if x.t == "Div" then add(x.content) else blocks[#blocks + 1] = x end
          end
        end
        add(parsed.blocks)
      else
        blocks[#blocks + 1] = h
      end
    end
    return blocks
  end
  if #other > 0 then return other end
  return plain
end

local function find_image(blocks)
  for i, b in ipairs(blocks) do
    if b.t == "Para" and #b.content == 1 and b.content[1].t == "Image" then
      return i, b.content[1]
    end
  end
end

local function code_cell(div)
  for _, t in ipairs(cell_tags(div)) do
    if t == "parameters" or t == "injected-parameters" or t == "remove-cell" then
      return {}
    end
  end
  local src, outs = nil, {}
  for _, b in ipairs(div.content) do
    if b.t == "CodeBlock" and not src and has_class(b, "python") or
       (b.t == "CodeBlock" and not src and #b.classes == 0 and #outs == 0) then
      src = b
    elseif b.t == "Div" and has_class(b, "output") then
      outs[#outs + 1] = b
    end
  end
  local opts, code = {}, ""
  if src then opts, code = cell_options(src.text) end
  if falsy(opts["include"]) then return {} end

  local result = {}
  local echo = default_echo
  if opts["echo"] then echo = truthy(opts["echo"]) end
  if echo and code ~= "" then
    result[#result + 1] = pandoc.CodeBlock(code, { class = "python" })
  end
  if falsy(opts["output"]) then return result end

  local body = {}
  for _, o in ipairs(outs) do
    for _, b in ipairs(output_blocks(o)) do body[#body + 1] = b end
  end

  local label = opts["label"]
  if label and not label:match("^fig%-") and not label:match("^tbl%-") then
    label = nil -- not a cross-reference label: captions still apply, without numbers
  end
  if (label and label:match("^fig%-")) or (not label and opts["fig-cap"]) then
    local i, img = find_image(body)
    if i then
      local cap = opts["fig-cap"] and caption_inlines(opts["fig-cap"]) or pandoc.Inlines({})
      img.caption = pandoc.Inlines(cap):clone()
      img.attributes["width"] = img.attributes["width"] or "100%"
      body[i] = pandoc.Figure({ pandoc.Plain({ img }) }, { pandoc.Plain(cap) },
                              pandoc.Attr(label or "", { "quarto-figure" }))
    else
      warn("cell " .. (label or "with fig-cap") .. " has no image output")
    end
  elseif (label and label:match("^tbl%-")) or (not label and opts["tbl-cap"]) then
    local found = false
    for i, b in ipairs(body) do
      if b.t == "Table" then
        b.attr = pandoc.Attr(label or "", b.attr.classes, b.attr.attributes)
        if opts["tbl-cap"] then
          b.caption = { long = { pandoc.Plain(caption_inlines(opts["tbl-cap"])) } }
        end
        found = true
        break
      end
    end
    if not found then
      warn("cell " .. (label or "with tbl-cap") .. " has no Markdown table output")
    end
  end
  for _, b in ipairs(body) do result[#result + 1] = b end
  return result
end

function Pandoc(doc)
  prefix = pandoc.utils.stringify(doc.meta["chapter-prefix"] or "c")
  chapter_name = pandoc.utils.stringify(doc.meta["chapter-name"] or "chapter")
  default_echo = truthy(pandoc.utils.stringify(doc.meta["default-echo"] or "false"))
  local out = {}
  for _, blk in ipairs(doc.blocks) do
    if blk.t == "Div" and has_class(blk, "cell") and has_class(blk, "markdown") then
      local removed = false
      for _, t in ipairs(cell_tags(blk)) do
        if t == "remove-cell" then removed = true end   -- a note for the analyst only
      end
      if not removed then
        for _, b in ipairs(blk.content) do out[#out + 1] = b end
      end
    elseif blk.t == "Div" and has_class(blk, "cell") and has_class(blk, "code") then
      for _, b in ipairs(code_cell(blk)) do out[#out + 1] = b end
    elseif blk.t == "Div" and has_class(blk, "cell") and has_class(blk, "raw") then
      -- raw cells are not content
    else
      out[#out + 1] = blk
    end
  end
  -- chapter title and unique header identifiers
  local seen_title = false
  local blocks = pandoc.Blocks(out):walk({
    Header = function(h)
      if h.level == 1 then
        if seen_title then
          h.level = 2
        else
          seen_title = true
        end
      end
      -- `sec-` labels are the book's own (unique by construction); others get the prefix
      if h.identifier ~= "" and not h.identifier:match("^sec%-") then
        h.identifier = prefix .. "-" .. h.identifier
      end
      return h
    end,
  })
  if not seen_title then
    warn("no '# title' heading; using the file name")
    table.insert(blocks, 1, pandoc.Header(1, pandoc.Str(chapter_name), pandoc.Attr(prefix)))
  elseif blocks[1].t ~= "Header" or blocks[1].level ~= 1 then
    -- content before the title heading: move the title first
    for i, b in ipairs(blocks) do
      if b.t == "Header" and b.level == 1 then
        table.remove(blocks, i)
        table.insert(blocks, 1, b)
        break
      end
    end
  end
  doc.blocks = blocks
  doc.meta["chapter-prefix"] = nil
  doc.meta["chapter-name"] = nil
  doc.meta["default-echo"] = nil
  return doc
end
