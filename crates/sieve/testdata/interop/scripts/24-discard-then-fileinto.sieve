require "fileinto";
discard;
fileinto "Late";
