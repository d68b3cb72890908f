--- happysim.class: the class helper of hs.Entity and hs.ElectionStrategy: a class is a table of
-- methods whose index falls back to its superclass (`super`), called with options to make an
-- instance (with the metatable `class.__instance_mt`), and `Base:extend(name)` makes a subclass.

local M = {}

--- M.setup(class, instance_mt, meta) -> class, with the metatable meta (its __call makes an
-- instance, __name names it) whose __index is the superclass; its instances get instance_mt.
function M.setup(class, instance_mt, meta)
  class.__instance_mt = instance_mt
  meta.__index = rawget(class, "super")
  return setmetatable(class, meta)
end

--- M.options(class, opts) -> opts, or {} for nil; raises naming the class (at the caller of
-- its caller, the instantiate function a class is called through) unless a table.
function M.options(class, opts)
  if opts ~= nil and type(opts) ~= "table" then
    error(("bad argument #1 to '%s' (table of options expected, got %s)"):format(class.class_name, type(opts)), 3)
  end
  return opts or {}
end

--- M.build(class, self, opts): class.init(self, opts), or without init the options copied onto self.
function M.build(class, self, opts)
  if class.init then
    class.init(self, opts)
  else
    for k, v in pairs(opts) do self[k] = v end
  end
end

--- M.extend(base, name, setup) -> setup({ class_name = name, super = base }); raises naming
-- 'extend' (at its caller's caller) unless name is a string.
function M.extend(base, name, setup)
  if type(name) ~= "string" then
    error("bad argument #1 to 'extend' (class name string expected, got " .. type(name) .. ")", 3)
  end
  return setup({ class_name = name, super = base })
end

return M
