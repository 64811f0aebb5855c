require "fileinto";
if header :is "x-folded" "first second" {
    fileinto "Unfolded";
}
if header :is "x-tab" "value	with	tabs" {
    fileinto "Tabs";
}
